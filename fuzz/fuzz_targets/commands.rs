//! MQTT command messages: the input is `<name>\n<payload>` (no newline: the whole input is the
//! name and the payload is empty). The name comes from the topic, so it may be any text.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (name, payload) = match data.iter().position(|&b| b == b'\n') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (data, &[][..]),
        };
        let name = String::from_utf8_lossy(name);
        let _ = cdposture::publish::commands::parse(&name, payload);
    });
}
