"""Render stage: tables, figures and the reproduction report from cached parquet results."""
