//! The process's open-descriptor limit: each device connection holds one.

/// The descriptor limit `(soft, hard)`, if the OS reports it.
pub fn descriptor_limit() -> Option<(u64, u64)> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok()
}

/// Raises the soft descriptor limit to the hard one where allowed; returns the soft limit
/// before and after (`None` if the OS does not say).
pub fn raise_descriptor_limit() -> Option<(u64, u64)> {
    let (soft, _) = descriptor_limit()?;
    let now = rlimit::increase_nofile_limit(u64::MAX).ok()?;
    Some((soft, now))
}
