//! Giving the allocator's free memory back to the kernel after a one-off burst (the startup
//! scan of a host's history, arming the eBPF tier). glibc returns freed memory only from the
//! top of its heap; what a burst freed below long-lived allocations stays in the process's RSS
//! until `malloc_trim` releases the free pages in the middle too.

/// Releases the free pages the allocator holds; a no-op where the allocator is not glibc's.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks; it takes no pointer
    // of ours and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
