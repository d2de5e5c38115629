//! The gRPC health check (`grpc.health.v1.Health/Check`) as a probe: the request and response
//! are one-field protobuf messages, encoded here by hand (field 1: service name; field 1 of
//! the reply: status, 1 = SERVING).

/// A length-prefixed gRPC message carrying HealthCheckRequest{service}.
pub fn request(service: Option<&str>) -> Vec<u8> {
    let mut msg = Vec::new();
    if let Some(s) = service {
        msg.push(0x0a); // field 1, length-delimited
        put_varint(&mut msg, s.len() as u64);
        msg.extend_from_slice(s.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend(msg);
    frame
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The serving status in a framed HealthCheckResponse (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING,
/// 3 SERVICE_UNKNOWN); a message without the field means UNKNOWN.
pub fn response_status(body: &[u8]) -> Option<u64> {
    if body.len() < 5 || body[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let mut msg = body.get(5..5 + len)?;
    let mut status = 0;
    while !msg.is_empty() {
        let (key, n) = varint(msg)?;
        msg = &msg[n..];
        match key & 7 {
            0 => {
                let (v, n) = varint(msg)?;
                msg = &msg[n..];
                if key >> 3 == 1 {
                    status = v;
                }
            }
            2 => {
                let (l, n) = varint(msg)?;
                msg = msg.get(n + l as usize..)?;
            }
            _ => return None,
        }
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode() {
        assert_eq!(request(None), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            request(Some("db")),
            vec![0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        assert_eq!(response_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(response_status(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(response_status(&[1, 0]), None);
    }
}
