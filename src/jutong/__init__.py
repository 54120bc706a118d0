"""聚通 jutong: 政务数据共享交换平台 (government data sharing and exchange platform)."""

__version__ = "0.1.0"
