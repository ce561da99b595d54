//! GPT-2's byte-level alphabet, which spells every byte of a byte-level BPE vocabulary as a character.

/// The character GPT-2's byte-level alphabet spells each byte with, as `tokenizers`' `bytes_char`.
pub(crate) fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_extra = 0u32;
    for byte in 0..=255u8 {
        let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            u32::from(byte)
        } else {
            next_extra += 1;
            255 + next_extra
        };
        table[usize::from(byte)] = char::from_u32(code).unwrap_or('\0');
    }
    table
}
