//! A product archive: the `Distribution` and its component packages in one
//! xar, laid out as `productbuild` writes it:
//!
//! ```text
//! Distribution
//! Resources/...            (what Installer shows: pages, backgrounds)
//! <Name>.pkg/Bom
//! <Name>.pkg/PackageInfo
//! <Name>.pkg/Payload
//! <Name>.pkg/Scripts
//! ```

use crate::{
    payload::ArchiveSummary,
    xar::{XarArchive, XarError, XarWriter},
};

/// One component package; its metadata is written as given.
pub struct Component<'a> {
    /// The component's file name in the archive (`Name.pkg`), which the
    /// Distribution's `pkg-ref` names.
    pub file_name: &'a str,
    pub package_info: &'a str,
    /// The payload and its BOM; `None` for a payload-free component
    /// (`pkgbuild --nopayload`), which only runs its scripts.
    pub payload: Option<(&'a ArchiveSummary, &'a [u8])>,
    pub scripts: Option<&'a ArchiveSummary>,
}

/// Lays out the unsigned product archive; [`XarArchive::write_to`] writes
/// it and `apple-xar` signs it. `resources` are `(path under Resources/,
/// bytes)`. `epoch` is the archive's creation time, in seconds
/// (`SOURCE_DATE_EPOCH` keeps it reproducible).
pub fn product_archive(
    distribution: &str,
    resources: &[(String, Vec<u8>)],
    components: &[Component],
    epoch: i64,
) -> Result<XarArchive, XarError> {
    let mut xar = XarWriter::new(creation_time(epoch));
    xar.add_compressed("Distribution", distribution.as_bytes())?;
    for (name, bytes) in resources {
        xar.add_compressed(&format!("Resources/{name}"), bytes)?;
    }
    for component in components {
        let name = component.file_name;
        if let Some((_, bom)) = component.payload {
            xar.add_compressed(&format!("{name}/Bom"), bom)?;
        }
        xar.add_compressed(
            &format!("{name}/PackageInfo"),
            component.package_info.as_bytes(),
        )?;
        let archives = [
            ("Payload", component.payload.map(|(payload, _)| payload)),
            ("Scripts", component.scripts),
        ];
        for (entry, archive) in archives {
            if let Some(archive) = archive {
                xar.add_stored(
                    &format!("{name}/{entry}"),
                    archive.path.clone(),
                    archive.compressed_size,
                    archive.sha1,
                )?;
            }
        }
    }
    xar.finish()
}

fn creation_time(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}
