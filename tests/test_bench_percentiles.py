"""The latency summary both Kafka benchmarks print (`vstream.bench.runner.percentiles`)."""

from vstream.bench.runner import percentiles


def test_percentiles_give_p50_p95_and_max_or_a_dash() -> None:
    assert percentiles([]) == "-"
    assert percentiles([1.0, 2.0, 3.0, 4.0]) == "2.50 / 3.85 / 4.00"
    assert percentiles([0.5]) == "0.50 / 0.50 / 0.50"
