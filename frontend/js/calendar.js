// The holiday calendar's coverage (GET /api/v1/calendar): a banner while the years entered
// (or known to the server's package) end within 60 days, asking for the State Council's notice
// of the next year. The server words it (Chinese and English); the page picks the language.

import { lang } from "./i18n.js";

const EVERY_MS = 10 * 60 * 1000;

export class CalendarBanner {
  constructor(element) {
    this.element = element;
    this.status = null;
    this.checked = false;
  }

  async check(api) {
    try {
      this.status = await api.optional("/api/v1/calendar");
    } catch (err) {
      console.warn("calendar:", err.message); // keep the last answer; try again later
    }
    this.checked = true;
    this.render();
  }

  render() {
    const warning = this.status && this.status.warning;
    this.element.hidden = !warning;
    if (warning) this.element.textContent = lang() === "en" ? warning.en : warning.zh;
  }

  /** Check now and every ten minutes (an operator may enter the year meanwhile). */
  start(api) {
    this.check(api);
    setInterval(() => this.check(api), EVERY_MS);
    return this;
  }
}
