"""Scores, routers, thresholds and risk control: how an input is routed."""
