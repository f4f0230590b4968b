"""The benchmarks behind `carebot bench NAME` (robot.bench.suite lists them), each with its own
same-run baseline. The robot's runtime never imports this package (tests/test_architecture.py)."""
