// Words and times: zh-CN first, English switchable; every time shown in Asia/Shanghai.

export const TZ = "Asia/Shanghai";
const LANG_KEY = "dispatch.lang";

const WORDS = {
  // shared
  "app.title": ["城管综合行政执法指挥中心", "Urban Management Law Enforcement Command Centre"],
  "screen.subtitle": ["实时指挥大屏", "Live command wall"],
  "desk.title": ["指挥调度台", "Dispatch desk"],
  "squad.title": ["中队移动端", "Squad mobile"],
  "nav.screen": ["大屏", "Wall"],
  "nav.desk": ["调度台", "Desk"],
  "nav.squad": ["移动端", "Mobile"],
  "lang.switch": ["English", "中文"],
  "conn.live": ["实时", "live"],
  "conn.connecting": ["连接中…", "connecting…"],
  "conn.offline": ["重连中…", "reconnecting…"],
  "login.title": ["登录", "Sign in"],
  "login.name": ["登录名", "Sign-in name"],
  "login.password": ["密码", "Password"],
  "login.go": ["登录", "Sign in"],
  "login.bad": ["登录名或密码错误", "Wrong sign-in name or password"],
  "login.limited": ["登录失败次数过多，请一分钟后再试", "Too many failed sign-ins: wait a minute and try again"],
  "login.ended": ["会话已结束，请重新登录", "The session has ended: please sign in again"],
  "login.out": ["退出", "Sign out"],
  "none": ["暂无", "none"],
  "who.system": ["系统", "system"],
  "who.unknown": ["（未知）", "(unknown)"],
  "who.bootstrap": ["管理令牌 DISPATCH_ADMIN_TOKEN", "DISPATCH_ADMIN_TOKEN"],
  "nav.leader": ["领导页", "Leader"],
  "nodata": ["暂无数据", "No data"],
  // KPIs
  "kpi.received": ["今日上报", "Reported today"],
  "kpi.registered": ["立案", "Registered"],
  "kpi.dispatched": ["派遣", "Dispatched"],
  "kpi.closed": ["结案", "Closed"],
  "kpi.disposal_rate": ["处置率", "Disposal rate"],
  "kpi.on_time_rate": ["按期处置率", "On-time rate"],
  "kpi.close_rate": ["结案率", "Close rate"],
  "kpi.on_time_close_rate": ["按期结案率", "On-time close rate"],
  "kpi.today": ["今日（按应处置数、应结案数计）", "Today (over the cases due)"],
  "kpi.overdue": ["当前超期", "Overdue now"],
  "kpi.open": ["在办", "Open"],
  "kpi.units": ["在线力量", "Units on duty"],
  // panels
  "panel.kpi": ["今日概况", "Today"],
  "panel.sources": ["来源构成", "Sources"],
  "panel.categories": ["类别构成", "Categories"],
  "panel.map": ["辖区态势", "District"],
  "panel.trend": ["近30日趋势", "Last 30 days"],
  "panel.ranking": ["街道/中队排名", "Streets and squads"],
  "panel.feed": ["实时动态", "Live activity"],
  "rank.name": ["中队", "Squad"],
  "rank.open": ["在办", "Open"],
  "rank.on_time": ["按期率", "On time"],
  "rank.overdue": ["超期", "Overdue"],
  "trend.received": ["上报", "Reported"],
  "trend.closed": ["结案", "Closed"],
  "trend.on_time": ["按期处置率", "On-time rate"],
  "legend.green": ["正常", "On time"],
  "legend.yellow": ["预警", "Warning"],
  "legend.red": ["超期", "Overdue"],
  "legend.unit": ["执法力量", "Units"],
  "ticker.new": ["新上报", "New"],
  "ticker.alert": ["超期告警", "Overdue"],
  "ticker.warning": ["临期预警", "Warning"],
  // sources (grouped for the mix)
  "srcgroup.hotline": ["12345热线", "12345 hotline"],
  "srcgroup.camera": ["AI摄像头", "AI cameras"],
  "srcgroup.grid": ["网格巡查", "Grid inspectors"],
  "srcgroup.iot": ["无人机/物联", "Drones, sensors"],
  "srcgroup.other": ["其他", "Others"],
  // desk
  "queue.reported": ["待立案", "To register"],
  "queue.registered": ["待派遣", "To dispatch"],
  "queue.returned": ["回退", "Returned"],
  "queue.overdue": ["超期", "Overdue"],
  "queue.repeat": ["重复诉件", "Repeat complaints"],
  "queue.duplicates": ["疑似重复", "Possible duplicates"],
  "queue.approvals": ["延期/挂账待批", "Approvals"],
  "queue.resolved": ["待核查", "To verify"],
  "queue.inwork": ["在办", "In progress"],
  "queue.empty": ["队列为空", "Nothing here"],
  "detail.pick": ["从左侧队列选择一个案卷（J/K 上下移动）", "Pick a case from a queue (J/K to move)"],
  "detail.history": ["办理过程", "History"],
  "detail.media": ["现场照片", "Photos"],
  "detail.clock": ["处置时限", "Time limit"],
  "detail.remaining": ["剩余", "left"],
  "detail.overdue_by": ["已超期", "overdue by"],
  "detail.suspended": ["挂账中（计时暂停）", "Suspended (clock stopped)"],
  "detail.stopped": ["计时已停止", "Clock stopped"],
  "detail.source": ["来源", "Source"],
  "detail.category": ["类别", "Category"],
  "detail.address": ["地址", "Address"],
  "detail.squad": ["责任中队", "Squad"],
  "detail.support": ["协办中队", "Support"],
  "detail.received": ["上报时间", "Reported"],
  "detail.deadline": ["截止时间", "Deadline"],
  "detail.confidence": ["置信度", "Confidence"],
  "detail.flags": ["提示", "Flags"],
  "detail.reports": ["诉件次数", "Reports"],
  "detail.description": ["描述", "Description"],
  "detail.outcome": ["处置结果", "Outcome"],
  "detail.extension": ["延期申请", "Extension asked"],
  "detail.suspension": ["挂账申请", "Suspension asked"],
  "actions": ["操作", "Actions"],
  "rec.title": ["派遣建议", "Recommendations"],
  "rec.none": ["无可推荐中队，请手工选择", "No recommendation: choose a squad"],
  "rec.support": ["协办", "support"],
  "rec.distance": ["距离", "distance"],
  "dlg.reason": ["原因", "Reason"],
  "dlg.note": ["说明", "Note"],
  "dlg.into": ["并入案卷号", "Merge into case"],
  "dlg.hours": ["延期小时数", "Hours"],
  "dlg.ok": ["确定", "OK"],
  "dlg.cancel": ["取消", "Cancel"],
  "dlg.squad": ["派往中队", "Squad"],
  "dlg.nearby": ["附近同类在办案卷", "Open cases of this kind nearby"],
  "keys.title": ["快捷键", "Keyboard shortcuts"],
  "keys.nav": ["J / K 上下选择，1–8 切换队列，/ 按案卷号查找，? 帮助，Esc 关闭", "J / K move, 1–8 switch queue, / find by case number, ? help, Esc close"],
  "done": ["已完成", "Done"],
  "failed": ["失败", "Failed"],
  // actions
  "act.report": ["上报", "Reported"],
  "act.duplicate": ["重复上报（已并入）", "Reported again (attached)"],
  "act.register": ["立案", "Register"],
  "act.reject": ["不予立案", "Reject"],
  "act.dispatch": ["派遣", "Dispatch"],
  "act.accept": ["签收", "Sign for"],
  "act.return": ["回退", "Return"],
  "act.resolve": ["处置完毕", "Resolve"],
  "act.verify": ["核查通过", "Verify: done"],
  "act.rework": ["核查不通过（返工）", "Verify: not done"],
  "act.merge": ["并案", "Merge"],
  "act.extend": ["申请延期", "Ask extension"],
  "act.approve_extension": ["批准延期", "Approve extension"],
  "act.reject_extension": ["驳回延期", "Refuse extension"],
  "act.suspend": ["挂账", "Suspend"],
  "act.ask_suspend": ["申请挂账", "Ask suspension"],
  "act.resume": ["恢复计时", "Resume"],
  "act.supervise": ["督办", "Supervise"],
  "act.remind": ["催办", "Remind"],
  "act.attach_media": ["上传照片", "Photo attached"],
  // squad page
  "squad.tasks": ["任务", "Tasks"],
  "squad.new": ["新派遣，请签收", "New dispatch: sign for it"],
  "squad.verify": ["核查", "Verify"],
  "squad.queue": ["待发送", "waiting to send"],
  "squad.queued": ["已离线保存，联网后自动发送", "Saved offline; it will be sent when back online"],
  "squad.sent": ["已发送", "Sent"],
  "squad.photos_before": ["处置前照片", "Photos before"],
  "squad.photos_after": ["处置后照片", "Photos after"],
  "squad.take_photo": ["拍照/选择照片", "Take or choose a photo"],
  "squad.need_photo": ["请至少拍摄一张照片", "Take at least one photo"],
  "squad.outcome": ["处置结果", "Outcome"],
  "squad.position": ["位置上报", "Position"],
  "squad.position_off": ["未开启定位", "location off"],
  "squad.no_tasks": ["暂无任务", "No tasks"],
  "squad.signout": ["退出", "Sign out"],
  "squad.pick": ["选择中队", "Choose the squad"],
  "squad.unit": ["执法单元", "Unit"],
  "squad.verify_done": ["已整改", "Done"],
  "squad.verify_not": ["未整改", "Not done"],
  "squad.verify_cannot": ["无法核实", "Cannot verify"],
  "squad.sound": ["开启提示音", "Sound on"],
  "squad.back": ["返回", "Back"],
};

export const STATES = {
  reported: ["上报", "reported"], registered: ["立案", "registered"], dispatched: ["派遣", "dispatched"],
  accepted: ["签收", "accepted"], resolved: ["处置完毕", "resolved"], closed: ["结案", "closed"],
  returned: ["回退", "returned"], rejected: ["不予立案", "rejected"], merged: ["并案", "merged"],
};
export const SOURCES = {
  camera: ["AI摄像头", "camera"], drone: ["无人机", "drone"], sensor: ["传感器", "sensor"],
  hotline: ["12345热线", "hotline"], grid: ["网格巡查", "grid"], citizen: ["市民上报", "citizen"],
  leader: ["领导交办", "leader"], media: ["媒体曝光", "media"], platform: ["平台转办", "platform"],
};
export const OUTCOMES = {
  corrected_on_spot: ["当场整改", "Corrected on the spot"], case_filed: ["立案查处", "Case filed"],
  handed_to_department: ["移交其他部门", "Handed to a department"], handed_to_police: ["移交公安", "Handed to police"],
  no_violation_found: ["现场未发现问题", "No violation found"], advised_and_educated: ["劝导教育", "Advised"],
  cleared: ["清理/拆除完毕", "Cleared"],
};
export const FLAGS = {
  no_zone: ["不在任何辖区", "in no zone"], near_border: ["靠近辖区边界", "near a border"],
  no_squad: ["辖区无责任中队", "no squad for the zone"], special_zone: ["重点区域", "special zone"],
  low_confidence: ["低置信度识别", "low confidence"], repeat: ["重复诉件", "repeat complaint"],
  possible_duplicate: ["疑似重复", "possible duplicate"],
};
export const EVENT_WORDS = {
  "incident.created": ["新上报", "reported"], "deadline.warning": ["临期预警", "deadline near"],
  "deadline.overdue": ["超期", "overdue"], "dispatch.assigned": ["派遣", "dispatched"],
};

export function lang() {
  return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh-CN";
}
const idx = () => (lang() === "en" ? 1 : 0);

export function setLang(value) {
  localStorage.setItem(LANG_KEY, value);
  document.documentElement.lang = value;
}

/** More words, from a page's own module: {key: [zh-CN, en]}. */
export function addWords(more) {
  Object.assign(WORDS, more);
}

/** The word for ``key`` in the current language (the key itself when unknown). */
export function t(key) {
  const w = WORDS[key];
  return w ? w[idx()] : key;
}

/** A word from one of the tables above (STATES, SOURCES, ...), or the raw value. */
export function word(table, value) {
  const w = table[value];
  return w ? w[idx()] : value ?? "—";
}

/** Fill every [data-i18n] (text), [data-i18n-title] and [data-i18n-placeholder] under root. */
export function applyI18n(root = document) {
  document.documentElement.lang = lang();
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
}

const fmtCache = new Map();
function formatter(kind) {
  const key = kind + lang();
  let f = fmtCache.get(key);
  if (!f) {
    const base = { timeZone: TZ, hour12: false };
    const opts = {
      time: { ...base, hour: "2-digit", minute: "2-digit", second: "2-digit" },
      short: { ...base, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" },
      full: { ...base, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" },
      date: { ...base, year: "numeric", month: "2-digit", day: "2-digit", weekday: "long" },
      day: { ...base, month: "2-digit", day: "2-digit" },
      ymd: { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" },
    }[kind];
    f = new Intl.DateTimeFormat(kind === "ymd" ? "en-CA" : lang(), opts);
    fmtCache.set(key, f);
  }
  return f;
}

/** A time (ISO string, Date or ms) formatted in Asia/Shanghai: kind is time|short|full|date|day. */
export function fmt(value, kind = "short") {
  if (value === null || value === undefined || value === "") return "—";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return "—";
  return formatter(kind).format(d);
}

/** The calendar day (YYYY-MM-DD) of a moment in Asia/Shanghai. */
export function shanghaiDay(value = Date.now()) {
  return formatter("ymd").format(new Date(value));
}

/** Midnight of today in Asia/Shanghai (UTC+8, no daylight saving), as an RFC 3339 string. */
export function startOfToday(now = Date.now()) {
  return `${shanghaiDay(now)}T00:00:00+08:00`;
}

/** Seconds as a countdown: "3:05:09", "12:30", or with a minus when overdue; days as "2天3时". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const neg = seconds < 0;
  let s = Math.floor(Math.abs(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const pad = (n) => String(n).padStart(2, "0");
  let text;
  if (d > 0) text = lang() === "en" ? `${d}d ${h}h` : `${d}天${h}时`;
  else if (h > 0) text = `${h}:${pad(m)}:${pad(s)}`;
  else text = `${pad(m)}:${pad(s)}`;
  return (neg ? "−" : "") + text;
}

export function fmtRate(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return (value * 100).toFixed(1) + "%";
}

const intFormat = new Intl.NumberFormat("zh-CN");
export function fmtInt(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return intFormat.format(value);
}
