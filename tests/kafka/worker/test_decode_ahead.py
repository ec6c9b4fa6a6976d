"""decoded: admitted chunks into decoded or undecodable ones, in order, dead letters passed on."""

from __future__ import annotations

from vstream.kafka.worker.admission import AdmittedChunk, DeadLetter
from vstream.kafka.worker.decode_ahead import DecodedChunk, UndecodableChunk, decoded
from vstream.kafka.worker.stream_state import StreamInfo, StreamState


def test_chunks_are_decoded_in_order_and_a_bad_one_becomes_undecodable(
        chunk, message, raw_message, stages) -> None:
    fake = stages(undecodable=frozenset({1}))
    state = StreamState("a", fake, StreamInfo.of(chunk("a")))
    letter = DeadLetter(raw_message("chunks", 0, 9, None, b"junk"), "ChunkFormatError", "bad")
    admitted = [AdmittedChunk(message(chunk("a", s), 0, s), chunk("a", s), state)
                for s in range(3)]
    out = list(decoded([admitted[0], letter, admitted[1], admitted[2]]))
    assert [type(i) for i in out] == [DecodedChunk, DeadLetter, UndecodableChunk, DecodedChunk]
    assert out[1] is letter
    assert [out[0].chunk.seq, out[2].chunk.seq, out[3].chunk.seq] == [0, 1, 2]
    assert out[2].reason == "DecodeError: bad bitstream in chunk 1"
    assert len(out[0].batch) == 2  # the stages' frames travel with the chunk
    # decoding touches only the decoder: nothing was fed or skipped
    assert fake.decoded == [0, 2] and fake.processed == [] and fake.skipped == []
