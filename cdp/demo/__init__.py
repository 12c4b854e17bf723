"""Realistic demo data for `make run` and `cdp demo-data`."""

from cdp.demo.seed import seed_demo_data

__all__ = ["seed_demo_data"]
