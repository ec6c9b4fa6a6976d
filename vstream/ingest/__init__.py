"""Video in: a file or a live URL demuxed into GopChunks, never decoded.

`chunker.Chunker` demuxes a source into GopChunks (one GOP each, keyframe first, or each GOP
in parts of a fraction of a second for live sources: `GopChunk.part`); the file
driver (`vstream.drivers.index`) and the ingest driver both use it. `ingester.ingest` is the
ingest driver behind `vstream ingest`: it hands the chunks to a producer (Kafka), paced to the
video's clock or as fast as the producer takes them, and reopens a live source that drops.
"""
