-- The holidays and make-up working days (调休) of each year, as an operator entered them from
-- the State Council's notice (国务院办公厅关于YYYY年部分节假日安排的通知). A year not here comes
-- from the chinesecalendar package, or past its data from the statutory holidays alone
-- (dispatcher/core/holidays.py). One row a year: entering a year again replaces it.
CREATE TABLE calendar_years (
    year       integer PRIMARY KEY CHECK (year BETWEEN 1901 AND 2099),
    holidays   date[] NOT NULL,
    workdays   date[] NOT NULL DEFAULT '{}',
    entered_by text NOT NULL,
    entered_at timestamptz NOT NULL DEFAULT now()
);
