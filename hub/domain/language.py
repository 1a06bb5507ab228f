"""The languages people read the hub's pages in, and the names of the case categories in each: the
categories are the hub's own codes, so a page written on the server needs the same names the dashboard
shows (its copy is `category.*` in dashboards/web/js/locales/base.js; keep the two alike)."""

from typing import Literal

Lang = Literal["zh", "en"]

CATEGORY_NAMES: dict[Lang, dict[str, str]] = {
    "en": {
        "fire": "Fire",
        "flood": "Flood",
        "gas": "Gas",
        "security": "Security",
        "lighting": "Lighting",
        "infrastructure": "Infrastructure",
        "device_health": "Device health",
        "safety": "Safety",
        "noise": "Noise",
        "sanitation": "Sanitation",
        "other": "Other",
    },
    "zh": {
        "fire": "火警",
        "flood": "水浸",
        "gas": "燃气",
        "security": "安防",
        "lighting": "照明",
        "infrastructure": "设施损坏",
        "device_health": "设备故障",
        "safety": "人身安全",
        "noise": "噪音",
        "sanitation": "环境卫生",
        "other": "其他",
    },
}


def preferred(accept_language: str | None) -> Lang:
    """Chinese when the reader's browser puts a Chinese language first, as the dashboard decides from
    `navigator.language`; English otherwise."""
    return "zh" if (accept_language or "").strip().lower().startswith("zh") else "en"
