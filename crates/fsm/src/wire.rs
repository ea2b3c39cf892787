//! Wire messages between agent and server, and the length-prefixed frame codec.
//!
//! A frame is `u32 big-endian length || version byte || postcard(message)`, where the length
//! counts the version byte and the payload. The decoder refuses a frame longer than
//! [`MAX_FRAME`] as soon as it reads the length, before buffering any of it.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::codes::Code;
use crate::command::Command;
use crate::handshake::{Challenge, Hello, Proof};
use crate::session::EndReason;
pub use crate::session::GrantApproval;
use crate::time::Timestamp;

/// The protocol version carried in every frame.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest frame (version byte plus payload): fits a 1 MiB file base64-encoded in JSON, or a
/// 1 MiB patch envelope, with room to spare.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;
/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;
/// Largest first frame from a peer that has not authenticated yet: a Hello holds two IDs of at
/// most 128 bytes, an enrollment token and a 32-byte key (and, proved, a 64-byte signature), so
/// 1 KiB is ample. Read with this limit, a peer cannot make the server buffer (or audit)
/// megabytes before it is known.
pub const MAX_HELLO_FRAME: usize = 1024;

/// Messages the agent sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentMessage {
    Hello(Hello),
    Proof(Proof),
    /// The capability manifest, on connect and on refresh.
    Manifest(Manifest),
    /// The kill switch changed (`on` = remote support allowed).
    RemoteSupport {
        on: bool,
    },
    /// The answer to a [`ServerMessage::Request`] on the same stream.
    Reply(Reply),
    /// On the control stream: the agent has processed [`ServerMessage::SessionEnded`] and
    /// refuses that session from now on (the server answers `deactivate` after this).
    SessionEndedAck {
        session_id: String,
    },
    /// The first message of the one-round-trip handshake: the Hello with the agent's proof over
    /// this connection's exporter (`handshake::prove_hello`). Agents before it send `Hello` and
    /// answer a `Challenge` with `Proof`; the server accepts both.
    ProvedHello {
        hello: Hello,
        proof: Proof,
    },
    /// On the control stream: the agent refused a [`ServerMessage::SessionGranted`] (its
    /// approvals, SPEC §13) and will run nothing under it; `code` is `approval_required` or
    /// `approval_invalid`.
    GrantRefused {
        session_id: String,
        code: Code,
    },
    /// On the control stream: the agent accepted a [`ServerMessage::SessionGranted`] and will
    /// serve it (with its approvals, on an agent with a policy); an activation that carries
    /// approvals answers after this (SPEC §13). Appended: the variants' order is the wire's.
    GrantAccepted {
        session_id: String,
    },
}

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    Challenge(Challenge),
    /// The handshake succeeded; `sessions` are the live sessions the agent must know about.
    Welcome {
        sessions: Vec<SessionGrant>,
    },
    /// The handshake or a request was refused; the connection closes after this.
    Refused {
        code: Code,
    },
    SessionGranted(SessionGrant),
    SessionEnded {
        session_id: String,
        reason: EndReason,
    },
    /// A command under a session, on its own stream. It carries the session's grant: streams
    /// are not ordered against each other, and the command may arrive before the control
    /// stream's [`ServerMessage::SessionGranted`] (SPEC §12, activation ready when answered).
    Request {
        grant: SessionGrant,
        command: Command,
    },
    /// Ask the agent to recompute and send its manifest (no session needed: read-only).
    RefreshManifest,
    /// The cluster's live nodes, least loaded first, with how many agents each holds: where to
    /// reconnect when this link drops (SPEC §10), and how to spread over them. Sent only by
    /// nodes on a shared store, when the set changes and when the loads have moved.
    Nodes {
        nodes: Vec<NodeLoad>,
    },
    /// Admission control: the server is finishing as many handshakes as it can and has given
    /// this agent a later turn; it comes back after `retry_after_ms` instead of retrying at
    /// random (a reconnect storm is served in order, not restarted by timeouts). The
    /// connection closes after this.
    Busy {
        retry_after_ms: u32,
    },
}

/// One live node of a cluster as an agent sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLoad {
    /// Where agents reach it (`HOST:PORT`).
    pub agent_address: String,
    /// Agents it holds, as its last heartbeat said.
    pub agents_online: u64,
}

/// What one `argus-ops` node asks another over the peer link (SPEC §10), about an agent the
/// other node holds. The asking node has already done everything else — gate, session checks,
/// audit — so the holder only touches its link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// Relay a command to the agent and answer its reply.
    Relay { agent_id: String, grant: SessionGrant, command: Command },
    /// Tell the agent a session ended; answer once it acknowledged (or a bounded wait passed).
    EndSession { agent_id: String, session_id: String, reason: EndReason },
    /// Tell the agent about a new session before its first command.
    Grant { agent_id: String, grant: SessionGrant },
    /// Close the agent's link: it was revoked (the holder checks the store when it can, and
    /// answers once the link is closed). Appended: the variants' order is the wire's.
    CutOff { agent_id: String },
}

/// The holder's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerReply {
    /// The agent's reply to a relayed command.
    Relayed(Reply),
    /// The agent has been told (and, for an end, acknowledged it or the wait ran out).
    Done,
    /// The agent's link is not (or no longer) on this node.
    NotHere,
    /// The agent refused the grant it was told (its approvals, SPEC §13): nothing runs under
    /// it. Appended: the variants' order is the wire's.
    GrantRefused { code: Code },
}

/// A session the agent must honour until it ends or `expires_at` passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrant {
    pub session_id: String,
    pub tenant: String,
    pub owner: String,
    pub expires_at: Timestamp,
    /// The tenant's approvals of the access request the session was opened under (SPEC §13);
    /// `None` for a session opened without one.
    pub approval: Option<Box<GrantApproval>>,
}

/// An agent's answer to a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The result object, as JSON text (postcard cannot carry a free-form JSON value).
    Ok { result_json: String },
    /// The agent refused; the code is relayed to the operator unchanged.
    Refused { code: Code, message: String },
}

/// The capability manifest (SPEC §5 "Capabilities").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub agent_version: String,
    pub os: String,
    pub arch: String,
    pub hostname: String,
    pub commands: Vec<String>,
    pub read_allowlist: Vec<String>,
    pub patch_allowlist: Vec<String>,
    pub remote_support_on: bool,
    /// The `cameras` value of `agent_info.json`, as JSON text.
    pub cameras_json: String,
    pub generated_at: Timestamp,
    /// How many of the tenant's approver keys must approve a session here (SPEC §13); 0 when
    /// the agent has no approver policy. (Stored manifests from before it read as 0.)
    #[serde(default)]
    pub approval_threshold: u32,
}

impl Manifest {
    /// The manifest as operators see it; `cameras` is re-parsed from its JSON text, `null` if
    /// malformed.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "agent_version": self.agent_version,
            "os": self.os,
            "arch": self.arch,
            "hostname": self.hostname,
            "commands": self.commands,
            "read_allowlist": self.read_allowlist,
            "patch_allowlist": self.patch_allowlist,
            "remote_support_on": self.remote_support_on,
            "cameras": serde_json::from_str::<serde_json::Value>(&self.cameras_json).unwrap_or(serde_json::Value::Null),
            "generated_at": self.generated_at.to_rfc3339(),
            "approval_required": self.approval_threshold > 0,
            "approval_threshold": self.approval_threshold,
        })
    }
}

/// Why bytes did not decode into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the maximum")]
    TooLarge(usize),
    #[error("empty frame")]
    Empty,
    #[error("unsupported protocol version {0}")]
    Version(u8),
    #[error("frame payload does not decode")]
    Malformed,
}

/// Encodes a message as one frame.
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; LENGTH_PREFIX];
    frame.push(PROTOCOL_VERSION);
    let frame = postcard::to_extend(message, frame).map_err(|_| FrameError::Malformed)?;
    let length = frame.len() - LENGTH_PREFIX;
    if length > MAX_FRAME {
        return Err(FrameError::TooLarge(length));
    }
    let mut frame = frame;
    frame[..LENGTH_PREFIX].copy_from_slice(&(length as u32).to_be_bytes());
    Ok(frame)
}

/// Decodes one frame's body (version byte and payload, without the length prefix).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (&version, payload) = body.split_first().ok_or(FrameError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::Version(version));
    }
    let (message, rest) = postcard::take_from_bytes(payload).map_err(|_| FrameError::Malformed)?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed);
    }
    Ok(message)
}

/// Reads the length prefix, refusing oversize and empty frames before anything is buffered.
pub fn frame_length(prefix: [u8; LENGTH_PREFIX]) -> Result<usize, FrameError> {
    frame_length_within(prefix, MAX_FRAME)
}

/// [`frame_length`] with a tighter limit (e.g. [`MAX_HELLO_FRAME`] before authentication).
pub fn frame_length_within(prefix: [u8; LENGTH_PREFIX], limit: usize) -> Result<usize, FrameError> {
    let length = u32::from_be_bytes(prefix) as usize;
    match length {
        0 => Err(FrameError::Empty),
        n if n > limit.min(MAX_FRAME) => Err(FrameError::TooLarge(n)),
        n => Ok(n),
    }
}

/// An incremental decoder for a byte stream of frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete message, if one is buffered. An error poisons the stream: the caller
    /// must close it, because framing is lost.
    pub fn decode_next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let Some(prefix) = self.buffer.first_chunk::<LENGTH_PREFIX>() else {
            return Ok(None);
        };
        let length = frame_length(*prefix)?;
        if self.buffer.len() < LENGTH_PREFIX + length {
            return Ok(None);
        }
        let message = decode_body(&self.buffer[LENGTH_PREFIX..LENGTH_PREFIX + length]);
        self.buffer.drain(..LENGTH_PREFIX + length);
        message.map(Some)
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::Intent;
    use proptest::prelude::*;

    fn hello() -> AgentMessage {
        AgentMessage::Hello(Hello { agent_id: "a1".into(), tenant: "T1".into(), intent: Intent::Authenticate })
    }

    #[test]
    fn frames_round_trip_through_the_incremental_decoder_byte_by_byte() {
        let messages = vec![
            hello(),
            AgentMessage::RemoteSupport { on: false },
            AgentMessage::Reply(Reply::Ok { result_json: "{}".into() }),
        ];
        let bytes: Vec<u8> = messages.iter().flat_map(|m| encode_frame(m).unwrap()).collect();
        let mut decoder = FrameDecoder::default();
        let mut decoded = Vec::new();
        for byte in bytes {
            decoder.push(&[byte]);
            while let Some(message) = decoder.decode_next::<AgentMessage>().unwrap() {
                decoded.push(message);
            }
        }
        assert_eq!(decoded, messages);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_buffering() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&((MAX_FRAME as u32) + 1).to_be_bytes());
        assert_eq!(decoder.decode_next::<AgentMessage>(), Err(FrameError::TooLarge(MAX_FRAME + 1)));
    }

    #[test]
    fn empty_frame_wrong_version_and_trailing_bytes_are_refused() {
        assert_eq!(frame_length([0; 4]), Err(FrameError::Empty));
        let mut frame = encode_frame(&hello()).unwrap();
        frame[LENGTH_PREFIX] = 9;
        assert_eq!(decode_body::<AgentMessage>(&frame[LENGTH_PREFIX..]), Err(FrameError::Version(9)));
        let mut frame = encode_frame(&hello()).unwrap();
        frame.push(0);
        assert_eq!(decode_body::<AgentMessage>(&frame[LENGTH_PREFIX..]), Err(FrameError::Malformed));
    }

    #[test]
    fn a_request_cannot_carry_an_off_allowlist_path() {
        let good = ServerMessage::Request {
            grant: SessionGrant {
                session_id: "s".into(),
                tenant: "T".into(),
                owner: "o".into(),
                expires_at: Timestamp(1),
                approval: None,
            },
            command: Command::ReadFile { path: "config.yaml".try_into().unwrap() },
        };
        let mut bytes = encode_frame(&good).unwrap();
        // Rewrite "config.yaml" to "../fig.yaml" in place (same length) and re-decode.
        let at = bytes.windows(11).position(|w| w == b"config.yaml").unwrap();
        bytes[at..at + 11].copy_from_slice(b"../fig.yaml");
        assert_eq!(decode_body::<ServerMessage>(&bytes[LENGTH_PREFIX..]), Err(FrameError::Malformed));
    }

    #[test]
    fn manifest_json_parses_cameras_and_formats_its_time() {
        let manifest = Manifest {
            agent_version: "1".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            hostname: "h".into(),
            commands: vec!["ping".into()],
            read_allowlist: vec![],
            patch_allowlist: vec![],
            remote_support_on: false,
            cameras_json: r#"[{"id":"c1"}]"#.into(),
            generated_at: Timestamp(42),
            approval_threshold: 0,
        };
        let json = manifest.to_json();
        assert_eq!(json["cameras"][0]["id"], "c1");
        assert_eq!(json["generated_at"], "1970-01-01T00:00:00.042Z");
        assert_eq!(json["remote_support_on"], false);
        let broken = Manifest { cameras_json: "{".into(), ..manifest };
        assert!(broken.to_json()["cameras"].is_null());
    }

    proptest! {
        #[test]
        fn frames_round_trip_through_any_chunking_and_garbage_never_panics(
            ids in proptest::collection::vec("[a-z0-9]{1,12}", 1..6),
            cuts in proptest::collection::vec(1usize..48, 0..24),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let grant = |id: &str| SessionGrant {
                session_id: id.into(),
                tenant: "T1".into(),
                owner: "op".into(),
                expires_at: Timestamp(7),
                approval: None,
            };
            let messages: Vec<ServerMessage> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| match i % 3 {
                    0 => ServerMessage::SessionGranted(grant(id)),
                    1 => ServerMessage::SessionEnded { session_id: id.clone(), reason: EndReason::Deactivated },
                    _ => ServerMessage::Request { grant: grant(id), command: Command::Ping },
                })
                .collect();
            let bytes: Vec<u8> = messages.iter().flat_map(|m| encode_frame(m).unwrap()).collect();
            // Deliver the stream in arbitrary pieces; every message comes out once, in order.
            let mut decoder = FrameDecoder::default();
            let mut decoded = Vec::new();
            let mut rest = bytes.as_slice();
            let mut cuts = cuts.into_iter();
            while !rest.is_empty() {
                let take = cuts.next().unwrap_or(rest.len()).min(rest.len());
                decoder.push(&rest[..take]);
                rest = &rest[take..];
                while let Some(message) = decoder.decode_next::<ServerMessage>().unwrap() {
                    decoded.push(message);
                }
            }
            prop_assert_eq!(&decoded, &messages);
            prop_assert_eq!(decoder.buffered(), 0);
            // Whatever follows is decoded or refused, never a panic, and never more messages
            // than whole frames it could hold.
            decoder.push(&garbage);
            let mut extra = 0;
            while let Ok(Some(_)) = decoder.decode_next::<ServerMessage>() {
                extra += 1;
                prop_assert!(extra <= garbage.len() / (LENGTH_PREFIX + 2));
            }
        }
    }
}
