"""The root command line (``jutong``)."""
