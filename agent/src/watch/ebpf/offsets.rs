//! Struct field offsets and argument positions of the running kernel, read from its BTF
//! (/sys/kernel/btf/vmlinux) at load time. The kernel side compiles none in: the loader hands
//! these to it as read-only globals, so one object runs on every kernel with BTF.

use std::path::Path;
use std::sync::OnceLock;

use btf_rs::{Btf, Type};

pub(crate) const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// `FMODE_*` are preprocessor constants, absent from BTF; both have had these values since
/// Linux 4.19 (FMODE_CREATED was introduced then).
pub(crate) const FMODE_WRITE: u32 = 0x2;
pub(crate) const FMODE_CREATED: u32 = 0x10_0000;

/// Global name in the eBPF object → value.
pub(crate) type Globals = Vec<(&'static str, u32)>;

/// Parsed once per process: several tier instances (tests) share it, and the parse is the
/// slowest part of arming.
pub(crate) fn globals() -> Result<&'static Globals, String> {
    static CACHE: OnceLock<Result<Globals, String>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let btf = Btf::from_file(VMLINUX_BTF)
                .map_err(|e| format!("cannot parse {VMLINUX_BTF}: {e}"))?;
            compute(&btf)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn compute(btf: &Btf) -> Result<Globals, String> {
    let o = |s: &str, m: &str| member_offset(btf, s, m);
    let a = |f: &str, p: Option<&str>| param_index(btf, f, p);
    Ok(vec![
        ("FMODE_CREATED", FMODE_CREATED),
        ("FMODE_WRITE", FMODE_WRITE),
        ("OFF_FILE_F_PATH", o("file", "f_path")?),
        ("OFF_FILE_F_INODE", o("file", "f_inode")?),
        ("OFF_FILE_F_MODE", o("file", "f_mode")?),
        ("OFF_PATH_DENTRY", o("path", "dentry")?),
        ("OFF_DENTRY_D_PARENT", o("dentry", "d_parent")?),
        ("OFF_DENTRY_D_NAME", o("dentry", "d_name")?),
        ("OFF_QSTR_NAME", o("qstr", "name")?),
        ("OFF_DENTRY_D_INODE", o("dentry", "d_inode")?),
        ("OFF_DENTRY_D_SB", o("dentry", "d_sb")?),
        ("OFF_INODE_I_INO", o("inode", "i_ino")?),
        ("OFF_INODE_I_SB", o("inode", "i_sb")?),
        ("OFF_SB_S_DEV", o("super_block", "s_dev")?),
        ("OFF_KIOCB_KI_FILP", o("kiocb", "ki_filp")?),
        ("OFF_RENAMEDATA_OLD_DENTRY", o("renamedata", "old_dentry")?),
        ("OFF_RENAMEDATA_NEW_DENTRY", o("renamedata", "new_dentry")?),
        ("OFF_TASK_FILES", o("task_struct", "files")?),
        ("OFF_FILES_FDT", o("files_struct", "fdt")?),
        ("OFF_FDTABLE_FD", o("fdtable", "fd")?),
        // fexit programs find the return value after the last argument.
        ("ARG_PERFORM_WRITE_RET", a("generic_perform_write", None)?),
        ("ARG_VFS_WRITE_RET", a("vfs_write", None)?),
        ("ARG_VFS_WRITEV_RET", a("vfs_writev", None).unwrap_or(0)),
        ("ARG_UNLINK_DENTRY", a("vfs_unlink", Some("dentry"))?),
        ("ARG_UNLINK_RET", a("vfs_unlink", None)?),
        ("ARG_RENAME_RET", a("vfs_rename", None)?),
    ])
}

fn unsupported(what: String) -> String {
    format!(
        "this kernel's BTF has no {what}, which the eBPF tier needs; use --tier fanotify or \
         --tier inotify"
    )
}

/// Byte offset of `member` in `struct name`, looking inside anonymous structs and unions.
fn member_offset(btf: &Btf, name: &str, member: &str) -> Result<u32, String> {
    let types = btf
        .resolve_types_by_name(name)
        .map_err(|_| unsupported(format!("struct {name}")))?;
    for t in types {
        if let Type::Struct(s) = t
            && let Some(bits) = find_member(btf, &s, member, 0)
        {
            return Ok(bits / 8);
        }
    }
    Err(unsupported(format!("field {name}.{member}")))
}

fn find_member(btf: &Btf, s: &btf_rs::Struct, member: &str, base: u32) -> Option<u32> {
    for m in &s.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        if name == member {
            return Some(base + m.bit_offset());
        }
        if name.is_empty() {
            let inner = match btf.resolve_chained_type(m).ok()? {
                Type::Struct(i) | Type::Union(i) => i,
                _ => continue,
            };
            if let Some(found) = find_member(btf, &inner, member, base + m.bit_offset()) {
                return Some(found);
            }
        }
    }
    None
}

/// Position of parameter `param` of kernel function `func`, or with `None` the number of
/// parameters (where an fexit program finds the return value).
fn param_index(btf: &Btf, func: &str, param: Option<&str>) -> Result<u32, String> {
    let types = btf
        .resolve_types_by_name(func)
        .map_err(|_| unsupported(format!("function {func}")))?;
    for t in types {
        let Type::Func(f) = t else { continue };
        let Ok(Type::FuncProto(proto)) = btf.resolve_chained_type(&f) else {
            continue;
        };
        let Some(param) = param else {
            return Ok(proto.parameters.len() as u32);
        };
        if let Some(i) = proto
            .parameters
            .iter()
            .position(|p| btf.resolve_name(p).is_ok_and(|n| n == param))
        {
            return Ok(i as u32);
        }
    }
    Err(unsupported(format!("parameter {param:?} of {func}")))
}

/// Whether the kernel exposes BTF at all (cheap, for `available`).
pub(crate) fn has_btf() -> bool {
    Path::new(VMLINUX_BTF).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_come_from_this_kernel() {
        if !has_btf() {
            eprintln!("skipped: no {VMLINUX_BTF}");
            return;
        }
        let g = globals().expect("offsets");
        let get = |n: &str| g.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        // `struct path` is { vfsmount *mnt; dentry *dentry } on every kernel since 2.6.
        assert_eq!(get("OFF_PATH_DENTRY"), Some(8));
        assert_eq!(get("ARG_VFS_WRITE_RET"), Some(4));
        assert!(get("OFF_FILE_F_PATH").is_some_and(|o| o > 0));
    }
}
