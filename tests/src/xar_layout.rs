//! A product archive's layout read by hand (header, TOC, heap), so that
//! openssl can be handed exactly the bytes a signature covers.

use std::io::Read;

/// The xar header, TOC and heap offsets of a product archive.
pub struct XarLayout {
    pub toc_compressed: Vec<u8>,
    pub toc_xml: String,
    pub heap: usize,
}

pub fn xar_layout(bytes: &[u8]) -> XarLayout {
    assert_eq!(&bytes[..4], b"xar!");
    let header_size = u16::from_be_bytes([bytes[4], bytes[5]]) as usize;
    let toc_len = u64::from_be_bytes(bytes[8..16].try_into().unwrap()) as usize;
    assert_eq!(
        u32::from_be_bytes(bytes[24..28].try_into().unwrap()),
        1,
        "sha1 checksum"
    );
    let toc_compressed = bytes[header_size..header_size + toc_len].to_vec();
    let mut toc_xml = String::new();
    flate2::read::ZlibDecoder::new(toc_compressed.as_slice())
        .read_to_string(&mut toc_xml)
        .unwrap();
    XarLayout {
        toc_compressed,
        toc_xml,
        heap: header_size + toc_len,
    }
}

/// Text between the first `<open>` after `after` and its closing tag.
pub fn element<'a>(xml: &'a str, after: &str, name: &str) -> &'a str {
    let from = xml
        .find(after)
        .unwrap_or_else(|| panic!("TOC has no {after}"));
    let xml = &xml[from..];
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> after {after}"))
        + open.len();
    let end = start + xml[start..].find(&format!("</{name}>")).unwrap();
    &xml[start..end]
}

fn der_length(der: &[u8]) -> usize {
    // SEQUENCE with a long-form length: the CMS blob is zero-padded to its
    // reserved size, openssl wants the DER object alone.
    assert_eq!(der[0], 0x30);
    if der[1] & 0x80 == 0 {
        return 2 + der[1] as usize;
    }
    let n = (der[1] & 0x7f) as usize;
    2 + n
        + der[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize)
}

/// The heap bytes the TOC element after `after` points at (its `offset`
/// and `size`).
pub fn heap_element<'a>(bytes: &'a [u8], layout: &XarLayout, after: &str) -> &'a [u8] {
    let number = |name| -> usize { element(&layout.toc_xml, after, name).parse().unwrap() };
    let start = layout.heap + number("offset");
    &bytes[start..start + number("size")]
}

/// The TOC checksum and the CMS signature over it (DER), as stored.
pub fn cms_signature(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let layout = xar_layout(bytes);
    let checksum = heap_element(bytes, &layout, "<checksum").to_vec();
    // The CMS blob is zero-padded to its reserved size.
    let cms = heap_element(bytes, &layout, "<x-signature style=\"CMS\"");
    (checksum, cms[..der_length(cms)].to_vec())
}
