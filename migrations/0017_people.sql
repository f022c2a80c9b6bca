-- People accountable by name (执法人员 and the centre's staff) who sign in to the pages, and
-- their sessions. Tokens stay for devices and other platforms. A person's password is kept
-- only as an Argon2id hash; a session only as the SHA-256 of its secret (the cookie's value).
CREATE TABLE people (
    id            text PRIMARY KEY,
    login         text NOT NULL UNIQUE,
    name          text NOT NULL,
    badge_no      text UNIQUE,  -- 执法证号, for officers who hold one
    squad_id      text,
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'squad', 'auditor')),
    phone         text,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);
CREATE INDEX people_squad ON people (squad_id);

CREATE TABLE sessions (
    secret_hash bytea PRIMARY KEY,
    person_id   text NOT NULL REFERENCES people (id),
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX sessions_person ON sessions (person_id) WHERE ended_at IS NULL;
