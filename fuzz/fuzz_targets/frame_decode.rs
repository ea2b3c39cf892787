//! Arbitrary bytes, in arbitrary chunks, into the frame decoder of both directions.
//! Asserts: no panic; a decoded message re-encodes to a frame that decodes to the same value.
#![no_main]

use argus_fsm::wire::{decode_body, encode_frame, AgentMessage, FrameDecoder, ServerMessage, LENGTH_PREFIX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (chunk, bytes) = input;
    let chunk = usize::from(chunk).max(1);
    let mut agent = FrameDecoder::default();
    let mut server = FrameDecoder::default();
    for piece in bytes.chunks(chunk) {
        agent.push(piece);
        server.push(piece);
        if let Ok(Some(message)) = agent.decode_next::<AgentMessage>() {
            let frame = encode_frame(&message).expect("a decoded message re-encodes");
            assert_eq!(decode_body::<AgentMessage>(&frame[LENGTH_PREFIX..]).unwrap(), message);
        }
        if let Ok(Some(message)) = server.decode_next::<ServerMessage>() {
            let frame = encode_frame(&message).expect("a decoded message re-encodes");
            assert_eq!(decode_body::<ServerMessage>(&frame[LENGTH_PREFIX..]).unwrap(), message);
        }
    }
});
