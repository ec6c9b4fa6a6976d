"""Drivers: what feeds a stream's chunks to its session (`vstream.stream`) and writes the rows.

`index` is the file driver behind `vstream index`: it demuxes a stored video in-process, decodes
a few chunks ahead and stores the rows as the stages make them. The other driver, `vstream
worker`, takes its chunks from a Kafka topic and lives with the rest of Kafka in
`vstream.kafka.worker`; both run the same stages and write the same rows.
"""
