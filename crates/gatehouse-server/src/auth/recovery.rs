//! Recovery codes: ten per person, each usable once in place of a second step, shown
//! once and stored only as hashes (`db::second_factors`).

/// Ten recovery codes: 16 characters of an unambiguous alphabet of 31 each (about 79
/// bits: out of reach of guessing even from a leaked table of their hashes), shown
/// `xxxx-xxxx-xxxx-xxxx`.
pub fn new_codes() -> Vec<String> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| {
            let c: String = (0..16)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}-{}-{}", &c[..4], &c[4..8], &c[8..12], &c[12..])
        })
        .collect()
}

/// A recovery code as typed: case, spaces and dashes do not matter.
pub fn normalize(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
