"""Catalog: 政务信息资源目录 — resources, data items, data elements, code sets, review and publication, search."""
