"""The per-stream session both drivers run: one stream's chunks in, its rows' contents out.

`stages.StreamStages` holds a stream's decoder, segmenter and analyzer and is fed chunk by chunk
(it snapshots and restores at chunk boundaries, for the Kafka worker); `analyzer.StreamAnalyzer`
is its analysis half (frame model, trackers, people, live events, scene stories). The file
driver (`vstream.drivers.index`) and the Kafka driver (`vstream.kafka.worker`) both run it, so
a file indexed in-process and the same file streamed through Kafka give the same rows.
"""
