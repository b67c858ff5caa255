//! TensorBoard event files, written and read back without TensorFlow: a file of TFRecords
//! (u64 length, masked CRC-32C of the length, the bytes, masked CRC-32C of the bytes), each
//! an `Event` protocol buffer (tensorflow/core/util/event.proto, summary.proto): the first
//! one says `file_version = "brain.Event:2"`, the others carry a `Summary` of scalar
//! (`simple_value`) or PNG image values. Only the fields stoke writes are encoded and
//! decoded; a reader skips the others.

use anyhow::{Context, bail};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One value of an event's summary.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar {
        tag: String,
        value: f32,
    },
    /// A PNG image.
    Image {
        tag: String,
        height: u32,
        width: u32,
        channels: u32,
        png: Vec<u8>,
    },
}

/// One event as read back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub wall_time: f64,
    pub step: i64,
    pub file_version: Option<String>,
    pub values: Vec<Value>,
}

/// Appends events to a new event file in a directory.
pub struct EventWriter {
    file: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// A new file `events.out.tfevents.<seconds>.<host>.<pid>.stoke` in `dir` (created if
    /// needed), starting with the file-version event. A resumed run writes a new file
    /// beside the old ones; TensorBoard reads them all.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .unwrap_or_else(|| "localhost".into());
        // A new name each time: a second writer within the same second (an in-process
        // resume) must not truncate the first one's file.
        let mut attempt = 0;
        let (path, file) = loop {
            let name = format!(
                "events.out.tfevents.{}.{host}.{}.{attempt}.stoke",
                now.as_secs(),
                std::process::id()
            );
            let path = dir.join(name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1;
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        };
        let mut writer = Self {
            file: BufWriter::new(file),
            path,
        };
        let mut event = Vec::new();
        put_double(&mut event, 1, now.as_secs_f64());
        put_bytes(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        writer.flush()?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An event of `step` whose summary holds `values`.
    pub fn write(&mut self, step: i64, wall_time: f64, values: &[Value]) -> anyhow::Result<()> {
        let mut summary = Vec::new();
        for value in values {
            put_bytes(&mut summary, 1, &encode_value(value));
        }
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time);
        put_varint_field(&mut event, 2, step as u64);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    /// Makes what was written visible to readers.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.file
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }

    fn record(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let length = (data.len() as u64).to_le_bytes();
        let mut frame = Vec::with_capacity(data.len() + 16);
        frame.extend_from_slice(&length);
        frame.extend_from_slice(&masked_crc(&length).to_le_bytes());
        frame.extend_from_slice(data);
        frame.extend_from_slice(&masked_crc(data).to_le_bytes());
        self.file
            .write_all(&frame)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Scalar { tag, value } => {
            put_bytes(&mut out, 1, tag.as_bytes());
            put_key(&mut out, 2, 5);
            out.extend_from_slice(&value.to_le_bytes());
        }
        Value::Image {
            tag,
            height,
            width,
            channels,
            png,
        } => {
            put_bytes(&mut out, 1, tag.as_bytes());
            let mut image = Vec::new();
            put_varint_field(&mut image, 1, u64::from(*height));
            put_varint_field(&mut image, 2, u64::from(*width));
            put_varint_field(&mut image, 3, u64::from(*channels));
            put_bytes(&mut image, 4, png);
            put_bytes(&mut out, 4, &image);
        }
    }
    out
}

/// TFRecord's masked CRC-32C (Castagnoli): rotated right by 15 bits plus a constant, so a
/// CRC of data that holds CRCs stays well distributed.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_key(out, field, 0);
    put_varint(out, value);
}

fn put_double(out: &mut Vec<u8>, field: u32, value: f64) {
    put_key(out, field, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The events of an event file, every record's CRCs checked.
pub fn read_events(path: &Path) -> anyhow::Result<Vec<Event>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut events = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let what = || format!("{}: record {}", path.display(), events.len());
        if rest.len() < 12 {
            bail!("{}: truncated header", what());
        }
        let (length_bytes, after) = rest.split_at(8);
        let length = u64::from_le_bytes(length_bytes.try_into().expect("8 bytes"));
        if masked_crc(length_bytes) != u32::from_le_bytes(after[..4].try_into().expect("4 bytes")) {
            bail!("{}: length CRC mismatch", what());
        }
        let after = &after[4..];
        let length = usize::try_from(length)
            .ok()
            .filter(|&n| n.checked_add(4).is_some_and(|end| end <= after.len()));
        let Some(length) = length else {
            bail!("{}: truncated data", what());
        };
        let (data, after) = after.split_at(length);
        if masked_crc(data) != u32::from_le_bytes(after[..4].try_into().expect("4 bytes")) {
            bail!("{}: data CRC mismatch", what());
        }
        events.push(decode_event(data).with_context(what)?);
        rest = &after[4..];
    }
    Ok(events)
}

/// A protocol-buffer field: its number and its payload.
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32([u8; 4]),
    Bytes(&'a [u8]),
}

fn get_varint(data: &mut &[u8]) -> anyhow::Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = data.split_first().context("truncated varint")?;
        *data = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("varint longer than 64 bits")
}

fn fields(mut data: &[u8]) -> anyhow::Result<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let key = get_varint(&mut data)?;
        let field = match key & 7 {
            0 => Field::Varint(get_varint(&mut data)?),
            1 => {
                let (bytes, rest) = data.split_at_checked(8).context("truncated fixed64")?;
                data = rest;
                Field::Fixed64(bytes.try_into().expect("8 bytes"))
            }
            2 => {
                let length = usize::try_from(get_varint(&mut data)?)?;
                let (bytes, rest) = data.split_at_checked(length).context("truncated bytes")?;
                data = rest;
                Field::Bytes(bytes)
            }
            5 => {
                let (bytes, rest) = data.split_at_checked(4).context("truncated fixed32")?;
                data = rest;
                Field::Fixed32(bytes.try_into().expect("4 bytes"))
            }
            wire => bail!("unsupported wire type {wire}"),
        };
        out.push((key >> 3, field));
    }
    Ok(out)
}

fn decode_event(data: &[u8]) -> anyhow::Result<Event> {
    let mut event = Event::default();
    for (number, field) in fields(data)? {
        match (number, field) {
            (1, Field::Fixed64(b)) => event.wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => event.step = v as i64,
            (3, Field::Bytes(b)) => event.file_version = Some(String::from_utf8(b.to_vec())?),
            (5, Field::Bytes(summary)) => {
                for (number, field) in fields(summary)? {
                    if let (1, Field::Bytes(value)) = (number, field) {
                        event.values.extend(decode_value(value)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(event)
}

fn decode_value(data: &[u8]) -> anyhow::Result<Option<Value>> {
    let mut tag = String::new();
    let mut value = None;
    for (number, field) in fields(data)? {
        match (number, field) {
            (1, Field::Bytes(b)) => tag = String::from_utf8(b.to_vec())?,
            (2, Field::Fixed32(b)) => {
                value = Some(Value::Scalar {
                    tag: String::new(),
                    value: f32::from_le_bytes(b),
                })
            }
            (4, Field::Bytes(image)) => {
                let (mut height, mut width, mut channels, mut png) = (0, 0, 0, Vec::new());
                for (number, field) in fields(image)? {
                    match (number, field) {
                        (1, Field::Varint(v)) => height = v as u32,
                        (2, Field::Varint(v)) => width = v as u32,
                        (3, Field::Varint(v)) => channels = v as u32,
                        (4, Field::Bytes(b)) => png = b.to_vec(),
                        _ => {}
                    }
                }
                value = Some(Value::Image {
                    tag: String::new(),
                    height,
                    width,
                    channels,
                    png,
                });
            }
            _ => {}
        }
    }
    Ok(value.map(|mut v| {
        match &mut v {
            Value::Scalar { tag: t, .. } | Value::Image { tag: t, .. } => *t = tag,
        }
        v
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32C's check value (RFC 3720's "123456789" -> 0xE3069283) and TFRecord's mask
    /// worked by hand: rotr(0xE3069283, 15) = 0x2507C60D, + 0xA282EAD8 = 0xC78AB0E5.
    #[test]
    fn masked_crc_is_tfrecords() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
    }

    /// The bytes of a scalar event by hand (protobuf encoding of event.proto / summary.proto):
    /// wall_time 1.5 (field 1, fixed64), step 300 (field 2, varint AC 02), summary (field 5)
    /// with one value: tag "a" (field 1) and simple_value 2.0 (field 2, fixed32).
    #[test]
    fn a_scalar_event_has_the_protobuf_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        let value = Value::Scalar {
            tag: "a".into(),
            value: 2.0,
        };
        writer
            .write(300, 1.5, std::slice::from_ref(&value))
            .unwrap();
        writer.flush().unwrap();
        let bytes = std::fs::read(writer.path()).unwrap();
        let mut expected = vec![0x09];
        expected.extend_from_slice(&1.5f64.to_le_bytes());
        expected.extend_from_slice(&[
            0x10, 0xAC, 0x02, 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, b'a', 0x15,
        ]);
        expected.extend_from_slice(&2.0f32.to_le_bytes());
        let tail = &bytes[bytes.len() - expected.len() - 4..bytes.len() - 4];
        assert_eq!(tail, &expected[..]);

        let events = read_events(writer.path()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        assert_eq!(events[1].step, 300);
        assert_eq!(events[1].wall_time, 1.5);
        assert_eq!(events[1].values, vec![value]);
    }

    #[test]
    fn images_round_trip_and_corruption_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        let image = Value::Image {
            tag: "samples".into(),
            height: 2,
            width: 3,
            channels: 1,
            png: vec![0x89, b'P', b'N', b'G', 1, 2, 3],
        };
        writer.write(7, 2.0, std::slice::from_ref(&image)).unwrap();
        writer.flush().unwrap();
        assert_eq!(read_events(writer.path()).unwrap()[1].values, vec![image]);
        let mut bytes = std::fs::read(writer.path()).unwrap();
        let last = bytes.len() - 6;
        bytes[last] ^= 1;
        std::fs::write(writer.path(), &bytes).unwrap();
        let error = read_events(writer.path()).unwrap_err().to_string();
        assert!(error.contains("record 1: data CRC mismatch"), "{error}");
        bytes.truncate(bytes.len() - 3);
        std::fs::write(writer.path(), &bytes).unwrap();
        assert!(read_events(writer.path()).is_err());
        // A record of length 0 with a valid length CRC and nothing after it: an error, not a
        // panic.
        let mut empty = 0u64.to_le_bytes().to_vec();
        empty.extend_from_slice(&masked_crc(&0u64.to_le_bytes()).to_le_bytes());
        std::fs::write(writer.path(), &empty).unwrap();
        let error = read_events(writer.path()).unwrap_err().to_string();
        assert!(error.contains("truncated"), "{error}");
    }
}
