"""A live incident simulator for the demo: it posts reports to a running server over HTTP.

The mix follows what a district centre really receives: AI cameras about half (in small
bursts, with confidences around 0.7–0.98, re-detecting the same stall at the same spot now
and then), the 12345 hotline a quarter (Chinese descriptions and addresses), grid inspectors
a fifth, and a few reports from citizens' phone apps, drones, sensors, leaders and the media.
Phone apps send GCJ-02 (and Baidu's BD-09) coordinates, as they do in China; everything else
sends WGS84.

:func:`make_report`, :func:`redetect` and :func:`next_batch` are pure (a seeded
``random.Random`` in, request bodies out); :func:`run_simulator` is the adapter that posts
them to ``POST /api/v1/incidents`` (docs/API.md §4) until its ``stop`` event is set, at the
rate of the daily curve (:mod:`dispatcher.demo.day`: about 3,000 a day, few at night).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import aiohttp
import prcoords
import shapely

from dispatcher.core.incidents import Source
from dispatcher.core.request_types import RequestType
from dispatcher.demo import day
from dispatcher.demo.city import Camera, DemoCity
from geo.distance import LocalFrame

log = logging.getLogger(__name__)

#: the offset the simulated platforms write their times in (Asia/Shanghai has no DST)
CST: Final = timezone(timedelta(hours=8), "CST")

SOURCE_WEIGHTS: Final[tuple[tuple[Source, float], ...]] = (
    (Source.CAMERA, 50),
    (Source.HOTLINE, 25),
    (Source.GRID, 20),
    (Source.CITIZEN, 2),
    (Source.DRONE, 1),
    (Source.SENSOR, 1),
    (Source.LEADER, 0.5),
    (Source.MEDIA, 0.5),
)

#: what each source reports, by category code, weighted toward what really comes in
CATEGORY_WEIGHTS: Final[dict[Source, tuple[tuple[str, float], ...]]] = {
    Source.CAMERA: (
        ("200504", 25),  # 店外经营
        ("200506", 20),  # 共享单车乱停放
        ("200502", 15),  # 占道经营
        ("200102", 10),  # 暴露垃圾
        ("200501", 8),  # 无照经营游商
        ("200507", 6),  # 乱堆物堆料
        ("200201", 5),  # 小广告
        ("200203", 5),  # 占道广告牌
        ("100302", 3),  # 废物箱满溢
        ("200114", 3),  # 露天烧烤
        ("200202", 2),  # 违章牌匾
        ("200206", 2),  # 横幅
        ("200110", 2),  # 乱吊挂晾晒
        ("200510", 2),  # 占道洗车修车
        ("100201", 2),  # 交通护栏破损
        ("200307", 2),  # 渣土车未密闭
        ("100102", 1),  # 井盖破损
        ("100101", 0.5),  # 井盖缺失
    ),
    Source.HOTLINE: (
        ("200601", 25),  # 噪声扰民
        ("200504", 12),
        ("200502", 10),
        ("200301", 10),  # 夜间施工噪声
        ("200113", 8),  # 餐饮油烟
        ("200101", 7),  # 私搭乱建
        ("200102", 7),
        ("200507", 5),  # 乱堆物堆料
        ("200202", 4),  # 店招
        ("200506", 5),
        ("200302", 3),  # 工地扬尘
        ("200406", 1),  # 道路积水
        ("100101", 1),
        ("200409", 1),  # 招牌坠落隐患
    ),
    Source.GRID: (
        ("200504", 15),
        ("200102", 12),
        ("200201", 12),
        ("200507", 10),
        ("200506", 10),
        ("200203", 6),
        ("100102", 5),
        ("100201", 4),
        ("100105", 4),  # 路灯
        ("200107", 4),  # 废弃家具
        ("200101", 4),
        ("200308", 3),  # 工地围挡
        ("200305", 3),  # 施工占道
        ("200104", 3),  # 道路不洁
        ("100402", 2),  # 绿地损坏
        ("100307", 2),  # 广告牌匾 (部件)
        ("200303", 2),  # 渣土撒漏
    ),
    Source.CITIZEN: (
        ("200504", 5),
        ("200601", 5),
        ("200506", 4),
        ("200102", 3),
        ("200113", 2),
        ("200107", 2),
        ("100101", 1),
    ),
    Source.DRONE: (
        ("200101", 4),
        ("200302", 3),
        ("200118", 2),
        ("200304", 2),
    ),
    Source.SENSOR: (
        ("100101", 3),  # 智能井盖 tilt sensors
        ("200406", 2),  # water-level sensors
        ("200301", 1),  # noise monitors at building sites
    ),
    Source.LEADER: (
        ("200101", 2),
        ("200302", 1),
        ("200504", 1),
        ("200113", 1),
    ),
    Source.MEDIA: (
        ("200504", 2),
        ("200113", 1),
        ("200601", 1),
        ("200101", 1),
    ),
}

#: kinds that mostly happen at night, weighted up from 20:00 to 06:00 (and down by day)
NIGHT_KINDS: Final = frozenset({"200114", "200301", "200601"})

WHAT: Final[dict[str, tuple[str, ...]]] = {
    "100101": ("井盖缺失，存在安全隐患", "井盖移位，行人易踩空"),
    "100102": ("井盖破损、松动", "井盖破裂，车辆经过有异响"),
    "100105": ("路灯不亮", "路灯灯杆倾斜"),
    "100201": ("交通护栏破损、倒伏", "道路隔离护栏缺失一段"),
    "100302": ("废物箱满溢，垃圾散落", "废物箱破损"),
    "100307": ("广告牌匾破损，面板脱落", "店招字体残缺"),
    "100402": ("绿化带被踩踏损坏", "绿地内被堆放杂物"),
    "200101": ("有人在屋顶私搭乱建", "居民违规搭建阳光房", "沿街商铺违规搭建雨棚"),
    "200102": ("垃圾未及时清运，暴露堆放", "路边有暴露垃圾"),
    "200104": ("路面有大片油污，道路不洁",),
    "200107": ("路边丢弃旧沙发、床垫",),
    "200110": ("沿街乱吊挂晾晒衣物",),
    "200113": ("餐饮店油烟直排，影响居民", "饭店油烟扰民"),
    "200114": ("夜间露天烧烤，油烟扰民", "路边露天烧烤摊"),
    "200118": ("屋顶已建成违法建筑未拆除",),
    "200201": ("墙面、电线杆上张贴小广告", "小广告乱贴乱画"),
    "200202": ("商铺擅自设置广告牌匾", "违规悬挂店招"),
    "200203": ("门前摆放落地广告牌占用人行道", "占道摆放广告牌"),
    "200206": ("沿街违规悬挂商业横幅",),
    "200301": ("工地夜间施工噪声扰民", "深夜施工机械作业声音很大"),
    "200302": ("建筑工地扬尘严重，裸土未覆盖", "工地未采取降尘措施"),
    "200303": ("渣土撒漏，路面污染",),
    "200304": ("有人偷倒建筑垃圾",),
    "200305": ("施工占用道路，未设围挡",),
    "200307": ("渣土运输车未密闭，沿途抛洒",),
    "200308": ("工地围挡破损、倒伏",),
    "200406": ("路面大面积积水，影响通行",),
    "200409": ("店招松动，有坠落危险",),
    "200501": ("流动商贩推车叫卖", "无照游商沿街兜售"),
    "200502": ("有人占道设摊经营", "早点摊占用人行道经营"),
    "200504": ("沿街商铺出店经营，货物摆上人行道", "水果店出店摆卖", "餐饮店门前摆放桌椅"),
    "200506": ("共享单车大量堆积，占用人行道", "非机动车乱停放，堵塞盲道"),
    "200507": ("人行道上乱堆物料", "沿街堆放杂物、建材"),
    "200510": ("占用人行道洗车", "占道修车"),
    "200601": ("夜间噪声扰民，影响休息", "商铺音响声音过大", "广场舞噪声扰民"),
}
#: the request types (诉求类型) of hotline work orders, weighted toward what comes in
REQUEST_TYPE_WEIGHTS: Final[tuple[tuple[RequestType, float], ...]] = (
    (RequestType.COMPLAINT, 60),
    (RequestType.CONSULT, 15),
    (RequestType.HELP, 10),
    (RequestType.REPORT, 10),
    (RequestType.SUGGESTION, 5),
)
#: what a caller asks, by request type
DEMANDS: Final[dict[RequestType, tuple[str, ...]]] = {
    RequestType.COMPLAINT: (
        "请尽快处理",
        "希望城管部门管一管",
        "已多次反映，要求彻底解决",
        "要求核实处理并回复",
    ),
    RequestType.REPORT: ("举报该行为，请依法查处", "实名举报，要求查处并回复"),
    RequestType.CONSULT: ("咨询有关规定和办理流程", "咨询该如何处理"),
    RequestType.HELP: ("请求帮助解决", "老人出行不便，请求帮助"),
    RequestType.SUGGESTION: ("建议加强巡查", "建议增设管理设施"),
}

DRONES: Final = ("uav-01", "uav-02", "uav-03")
MEDIA_HOST: Final = "https://media.example.com"
#: how far from its pole a camera sees, metres
CAMERA_REACH_M: Final = 25.0


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([item for item, _ in weighted], weights=[w for _, w in weighted])[0]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%Y%m%d%H%M%S")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


def _category(rng: random.Random, source: Source, now: datetime) -> str:
    night = now.astimezone(CST).hour >= 20 or now.astimezone(CST).hour < 6
    weighted = [
        (code, weight * ((4.0 if night else 0.25) if code in NIGHT_KINDS else 1.0))
        for code, weight in CATEGORY_WEIGHTS[source]
    ]
    code: str = _pick(rng, weighted)
    return code


def _in_crs(rng: random.Random, source: Source, lon: float, lat: float) -> tuple[str, float, float]:
    """The point as the source's device would send it: phone apps use GCJ-02 or BD-09."""
    share_gcj = {Source.CITIZEN: 0.7, Source.HOTLINE: 0.4, Source.GRID: 0.3}.get(source, 0.0)
    draw = rng.random()
    if draw < share_gcj:
        moved = prcoords.wgs_gcj((lat, lon))  # (lat, lon) in, Coords(lat, lon) out
        return "GCJ02", round(float(moved.lon), 6), round(float(moved.lat), 6)
    if source is Source.CITIZEN:
        moved = prcoords.wgs_bd((lat, lon))
        return "BD09", round(float(moved.lon), 6), round(float(moved.lat), 6)
    return "WGS84", round(lon, 6), round(lat, 6)


def _near(rng: random.Random, city: DemoCity, camera: Camera) -> tuple[float, float]:
    """A point within the camera's reach, inside its street (the pole itself otherwise)."""
    frame = city.frame or LocalFrame(*city.center)
    x, y = frame.xy(camera.lon, camera.lat)
    distance = CAMERA_REACH_M * math.sqrt(rng.random())
    angle = rng.uniform(0.0, 2.0 * math.pi)
    seen = frame.to_wgs84(
        shapely.Point(x + distance * math.sin(angle), y + distance * math.cos(angle))
    )
    lon, lat = float(seen.x), float(seen.y)
    if shapely.contains_xy(city.street(camera.street_id).geometry, lon, lat):
        return lon, lat
    return camera.lon, camera.lat


def camera_report(
    rng: random.Random, city: DemoCity, now: datetime, camera: Camera | None = None
) -> dict[str, Any]:
    """A fresh detection by one AI camera (a random one when ``camera`` is None)."""
    if camera is None:
        camera = rng.choice(city.cameras)
    code = _category(rng, Source.CAMERA, now)
    lon, lat = _near(rng, city, camera)
    seen = now - timedelta(seconds=rng.uniform(0, 30))
    confidence = round(min(0.99, max(0.55, rng.triangular(0.6, 0.99, 0.9))), 3)
    return {
        "source": Source.CAMERA.value,
        "external_id": f"{camera.device_id}-{_stamp(seen)}-{rng.getrandbits(32):08x}",
        "category": code,
        "lon": round(lon, 6),
        "lat": round(lat, 6),
        "crs": "WGS84",
        "description": f"AI视频智能识别：{rng.choice(WHAT[code])}",
        "occurred_at": _rfc3339(seen),
        "media": [f"{MEDIA_HOST}/{camera.device_id}/{_stamp(seen)}-{rng.getrandbits(24):06x}.jpg"],
        "confidence": confidence,
        "device_id": camera.device_id,
        "address": camera.address,
        "request_type": None,
    }


def redetect(previous: dict[str, Any], rng: random.Random, now: datetime) -> dict[str, Any]:
    """The same camera seeing the same thing at the same spot again: a new report (its own
    ``external_id``) that the server should attach to the open incident."""
    device = str(previous["device_id"])
    jitter = rng.uniform(-0.05, 0.05)
    return {
        **previous,
        "external_id": f"{device}-{_stamp(now)}-{rng.getrandbits(32):08x}",
        "occurred_at": _rfc3339(now),
        "media": [f"{MEDIA_HOST}/{device}/{_stamp(now)}-{rng.getrandbits(24):06x}.jpg"],
        "confidence": round(min(0.99, max(0.5, float(previous["confidence"]) + jitter)), 3),
    }


def make_report(rng: random.Random, city: DemoCity, now: datetime) -> dict[str, Any]:
    """One report body for ``POST /api/v1/incidents``, from a source drawn by the mix.

    ``now`` must be timezone-aware. The same ``rng`` state gives the same body.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    source: Source = _pick(rng, SOURCE_WEIGHTS)
    if source is Source.CAMERA and city.cameras:
        return camera_report(rng, city, now, None)
    if source is Source.CAMERA:
        source = Source.GRID
    code = _category(rng, source, now)
    lon, lat, street = city.random_point(rng)
    road = rng.choice(street.roads) if street.roads else street.name
    place = f"{city.district_name}{road}{rng.randint(1, 600)}号"
    what = rng.choice(WHAT[code])
    lag = {Source.HOTLINE: 90.0, Source.CITIZEN: 20.0, Source.MEDIA: 720.0}.get(source, 5.0)
    occurred = now - timedelta(minutes=rng.uniform(0.0, lag))
    crs, x, y = _in_crs(rng, source, lon, lat)
    description, device_id, media, confidence = what, None, [], None
    request_type: RequestType | None = None
    if source is Source.HOTLINE:
        request_type = _pick(rng, REQUEST_TYPE_WEIGHTS)
        demand = rng.choice(DEMANDS[request_type])
        description = f"市民来电反映：{place}附近{what}，{demand}。"
    elif source is Source.GRID:
        device_id = f"ctt-{rng.randint(1, 120):03d}"  # 城管通 handset of the inspector
        description = f"网格巡查发现：{what}。"
    elif source is Source.CITIZEN:
        description = f"市民通过随申办上报：{what}。"
    elif source is Source.DRONE:
        device_id = rng.choice(DRONES)
        description = f"无人机巡查发现：{what}。"
        confidence = round(rng.triangular(0.65, 0.98, 0.88), 3)
    elif source is Source.SENSOR:
        device_id = f"sensor-{rng.randint(1, 400):04d}"
        description = f"物联感知告警：{what}。"
        confidence = round(rng.uniform(0.9, 0.99), 3)
    elif source is Source.LEADER:
        description = f"领导交办：{place}{what}，请立即核查处置。"
    elif source is Source.MEDIA:
        description = f"媒体曝光：{place}{what}。"
    if source in (Source.GRID, Source.CITIZEN, Source.DRONE) and rng.random() < 0.8:
        media = [f"{MEDIA_HOST}/{source.value}/{_stamp(occurred)}-{rng.getrandbits(24):06x}.jpg"]
    prefix = "12345" if source is Source.HOTLINE else source.value
    return {
        "source": source.value,
        "external_id": f"{prefix}-{_stamp(now)}-{rng.getrandbits(32):08x}",
        "category": code,
        "lon": x,
        "lat": y,
        "crs": crs,
        "description": description,
        "occurred_at": _rfc3339(occurred),
        "media": media,
        "confidence": confidence,
        "device_id": device_id,
        "address": place,
        "request_type": request_type.value if request_type is not None else None,
    }


def next_batch(
    rng: random.Random, city: DemoCity, now: datetime, recent: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The next report, and when it is a camera's, the small burst that comes with it.

    ``recent`` holds earlier camera reports; some of the burst re-detect one of them.
    """
    first = make_report(rng, city, now)
    if first["source"] != Source.CAMERA.value:
        return [first]
    if recent and rng.random() < 0.25:
        first = redetect(rng.choice(list(recent)), rng, now)
    batch = [first]
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        if rng.random() < 0.4:
            batch.append(redetect(rng.choice(batch), rng, now))
        else:
            batch.append(camera_report(rng, city, now, None))
    return batch


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop`` is set; answer whether it was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> float:
    """Post one report; log failures and answer how long to back off (0 when none)."""
    try:
        async with session.post(url, json=body) as response:
            if response.status < 400:
                log.debug("posted %s %s: %s", body["source"], body["external_id"], response.status)
                return 0.0
            text = await response.text()
            log.warning(
                "report %s %s answered %s: %s",
                body["source"],
                body["external_id"],
                response.status,
                text[:300],
            )
            if response.status in (429, 503):
                try:
                    return min(30.0, float(response.headers.get("Retry-After", "2")))
                except ValueError:
                    return 2.0
            return 0.0
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("report %s %s not posted: %r", body["source"], body["external_id"], exc)
        return 1.0


async def run_simulator(
    base_url: str,
    device_token: str,
    city: DemoCity,
    *,
    rate_per_min: float | None = None,
    per_day: float = day.PER_DAY,
    speed: float = 1.0,
    stop: asyncio.Event,
    seed: int | None = None,
) -> None:
    """Post reports to ``{base_url}/api/v1/incidents`` until ``stop`` is set: ``per_day`` a
    simulated day on the daily curve (:mod:`dispatcher.demo.day`), the simulated clock running
    ``speed`` times as fast as the real one; or, when ``rate_per_min`` is given, that many a
    real minute all day. Failures are logged and the simulator goes on."""
    if rate_per_min is not None and rate_per_min <= 0:
        raise ValueError("rate_per_min must be positive")
    if per_day <= 0 or speed <= 0:
        raise ValueError("per_day and speed must be positive")
    rng = random.Random(seed)
    started, start_clock = datetime.now(CST), time.monotonic()

    def rate_now() -> float:
        """Reports a real minute now."""
        if rate_per_min is not None:
            return rate_per_min
        simulated = started + timedelta(seconds=(time.monotonic() - start_clock) * speed)
        return day.per_minute(simulated, per_day) * speed

    recent: deque[dict[str, Any]] = deque(maxlen=40)
    url = base_url.rstrip("/") + "/api/v1/incidents"
    headers = {"Authorization": f"Bearer {device_token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    log.info("simulator posting to %s at %.1f reports a minute", url, rate_now())
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        while not stop.is_set():
            mean_gap = 60.0 / rate_now()
            batch = next_batch(rng, city, datetime.now(CST), recent)
            for index, body in enumerate(batch):
                # a burst: detections a fraction of a second apart (shorter at high rates)
                spacing = rng.uniform(0.2, 1.5) * min(1.0, mean_gap / 2)
                if index and await _pause(stop, spacing):
                    return
                backoff = await _post(session, url, body)
                if body["source"] == Source.CAMERA.value:
                    recent.append(body)
                if backoff and await _pause(stop, backoff):
                    return
            if await _pause(stop, rng.expovariate(1.0 / (mean_gap * len(batch)))):
                return
