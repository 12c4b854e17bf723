"""Every analytics measure and the selection that reads all of it."""

from __future__ import annotations

BREAKDOWN = "{ cells { key count suppressed } total totalSuppressed }"
RATE = "{ key channel numerator denominator rate suppressed }"
SOURCES = """{
  cells { source channel orders revenueFen buyers suppressed }
  totalOrders totalRevenueFen totalSuppressed
}"""
RETENTION = f"{{ day7 {RATE} day30 {RATE} }}"
MEASURES = {
    "membersByTier": BREAKDOWN,
    "membersByFirstChannel": BREAKDOWN,
    "tagCounts": BREAKDOWN,
    "consentOptInRates": RATE,
    "ordersBySource": SOURCES,
    "conversionByChannel": RATE,
    "repurchaseRate": RATE,
    "retention": RETENTION,
}
