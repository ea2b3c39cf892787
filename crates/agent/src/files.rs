//! File access inside the install root that cannot be led out of it.
//!
//! Paths arrive already allowlisted (lexically). Every open here is relative to a handle on
//! the install root and refuses symlinks at *every* component (`openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, falling back to component-wise `openat` with
//! `O_NOFOLLOW` on kernels without `openat2`), so a symlink named like an allowlisted file, or
//! a symlinked `crashes/` directory, never reaches outside the root.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("no such file")]
    NotFound,
    #[error("refused: symlink, special file or outside the install root")]
    Refused,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<Errno> for FileError {
    fn from(errno: Errno) -> FileError {
        match errno {
            Errno::NOENT => FileError::NotFound,
            // ELOOP: a symlink; EXDEV: escaping the root; ENOTDIR: a file where a dir should be.
            Errno::LOOP | Errno::XDEV | Errno::NOTDIR | Errno::MLINK => FileError::Refused,
            other => FileError::Io(other.into()),
        }
    }
}

/// A handle on the install root.
pub struct Root {
    dir: OwnedFd,
}

impl Root {
    /// Opens the install root (the root itself may be reached through a symlink the
    /// administrator chose; nothing below it may be).
    pub fn open(path: &Path) -> Result<Root, FileError> {
        let dir = rustix::fs::open(path, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { dir })
    }

    /// Opens a regular file below the root for reading, refusing symlinks anywhere and files
    /// with more than one hard link (a link inside the root to a file outside it would
    /// otherwise expose that file). Both are checked on the opened descriptor, so nothing can
    /// be swapped in between the check and the read.
    pub fn open_read(&self, relative: &str) -> Result<File, FileError> {
        use std::os::unix::fs::MetadataExt as _;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = self.open_beneath(relative, flags, Mode::empty())?;
        let file = File::from(fd);
        let metadata = file.metadata()?;
        if !metadata.is_file() || metadata.nlink() > 1 {
            return Err(FileError::Refused);
        }
        Ok(file)
    }

    /// Opens a directory below the root (`""` is the root itself), refusing symlinks.
    pub fn open_dir(&self, relative: &str) -> Result<OwnedFd, FileError> {
        if relative.is_empty() {
            return Ok(self.dir.try_clone()?);
        }
        self.open_beneath(
            relative,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// Creates a directory directly below the root if missing (`hotfix/`), refusing a symlink
    /// in its place.
    pub fn ensure_dir(&self, relative: &str) -> Result<OwnedFd, FileError> {
        match rustix::fs::mkdirat(&self.dir, relative, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(errno) => return Err(errno.into()),
        }
        self.open_dir(relative)
    }

    fn open_beneath(&self, relative: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd, FileError> {
        match rustix::fs::openat2(&self.dir, relative, flags, mode, ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS) {
            Err(Errno::NOSYS) => self.open_by_components(relative, flags, mode),
            other => Ok(other?),
        }
    }

    /// The fallback: walk each component with `O_NOFOLLOW`.
    fn open_by_components(&self, relative: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd, FileError> {
        let parts: Vec<&str> = relative.split('/').collect();
        let mut dir = self.dir.try_clone()?;
        for part in &parts[..parts.len() - 1] {
            if matches!(*part, "" | "." | "..") {
                return Err(FileError::Refused);
            }
            dir = rustix::fs::openat(
                &dir,
                *part,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
        }
        let last = parts[parts.len() - 1];
        if matches!(last, "" | "." | "..") {
            return Err(FileError::Refused);
        }
        Ok(rustix::fs::openat(&dir, last, flags, mode)?)
    }
}

/// Reads at most `limit` bytes; returns the bytes and the file's full size.
pub fn read_prefix(mut file: File, limit: u64) -> Result<(Vec<u8>, u64), FileError> {
    let size = file.metadata()?.len();
    let mut content = Vec::with_capacity(size.min(limit) as usize);
    Read::by_ref(&mut file).take(limit).read_to_end(&mut content)?;
    Ok((content, size))
}

/// The last `count` lines of a file, read backwards in blocks from the end: the cost is
/// proportional to the lines asked for, not to the file's size. Lines come without their
/// newlines; invalid UTF-8 is replaced.
pub fn tail_lines(mut file: File, count: usize) -> Result<Vec<String>, FileError> {
    const BLOCK: u64 = 64 * 1024;
    let size = file.metadata()?.len();
    let mut end = size;
    let mut buffer: Vec<u8> = Vec::new();
    if count == 0 {
        return Ok(Vec::new());
    }
    // The newline just before the first wanted line marks where to cut. A trailing newline
    // ends the last line; it does not start an empty one, so it is skipped.
    let mut newlines_needed = count;
    let mut skip_final_newline = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        for (i, &byte) in block.iter().enumerate().rev() {
            if byte == b'\n' {
                if skip_final_newline && start + i as u64 == size - 1 {
                    continue;
                }
                newlines_needed -= 1;
                if newlines_needed == 0 {
                    block.drain(..=i);
                    block.extend_from_slice(&buffer);
                    return Ok(split_lines(&block));
                }
            }
        }
        skip_final_newline = false;
        block.extend_from_slice(&buffer);
        buffer = block;
        end = start;
    }
    Ok(split_lines(&buffer))
}

fn split_lines(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == b'\n')
        .map(|line| String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned())
        .collect()
}

/// Replaces `name` in `dir` atomically: write a temp file in the same directory, fsync it,
/// set its mode, rename over the target, fsync the directory. A crash leaves the old or the
/// new content, never a mix.
pub fn replace_atomically(dir: &OwnedFd, name: &str, content: &[u8], mode: u32) -> Result<(), FileError> {
    let mut suffix = [0u8; 8];
    getrandom::getrandom(&mut suffix).map_err(|e| FileError::Io(std::io::Error::other(e.to_string())))?;
    let temp = format!(".{name}.{}.tmp", hex::encode(suffix));
    let fd = rustix::fs::openat(
        dir,
        temp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let result = (|| {
        let mut file = File::from(fd);
        file.write_all(content)?;
        rustix::fs::fchmod(file.as_fd(), Mode::from_raw_mode(mode))?;
        file.sync_all()?;
        rustix::fs::renameat(dir, temp.as_str(), dir, name)?;
        rustix::fs::fsync(dir)?;
        Ok::<(), FileError>(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), rustix::fs::AtFlags::empty());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let root = Root::open(dir.path()).unwrap();
        (dir, root)
    }

    fn tail(content: &str, n: usize) -> Vec<String> {
        let (_dir, root) = root_with(&[("argus.log", content)]);
        tail_lines(root.open_read("argus.log").unwrap(), n).unwrap()
    }

    #[test]
    fn tail_returns_the_last_lines_without_newlines() {
        assert_eq!(tail("a\nb\nc\n", 2), ["b", "c"]);
        assert_eq!(tail("a\nb\nc", 2), ["b", "c"]);
        assert_eq!(tail("a\nb\nc\n", 10), ["a", "b", "c"]);
        assert_eq!(tail("", 3), Vec::<String>::new());
        assert_eq!(tail("\n\n", 5), ["", ""]);
        assert_eq!(tail("x\r\ny\r\n", 1), ["y"]);
    }

    #[test]
    fn tail_crosses_block_boundaries() {
        let content: String = (1..=50_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail(&content, 3), ["line 49998", "line 49999", "line 50000"]);
        let all = tail(&content, 50_000);
        assert_eq!(all.len(), 50_000);
        assert_eq!(all[0], "line 1");
    }

    #[test]
    fn symlink_named_like_an_allowlisted_file_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "TOP SECRET").unwrap();
        let (dir, root) = root_with(&[]);
        symlink(outside.path().join("secret"), dir.path().join("config.yaml")).unwrap();
        assert!(matches!(root.open_read("config.yaml"), Err(FileError::Refused)));
    }

    #[test]
    fn symlinked_directory_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.txt"), "TOP SECRET").unwrap();
        let (dir, root) = root_with(&[]);
        symlink(outside.path(), dir.path().join("crashes")).unwrap();
        assert!(matches!(root.open_read("crashes/x.txt"), Err(FileError::Refused)));
        assert!(matches!(
            root.open_by_components("crashes/x.txt", OFlags::RDONLY | OFlags::NOFOLLOW, Mode::empty()),
            Err(FileError::Refused)
        ));
    }

    #[test]
    fn fifo_and_directories_are_refused_without_blocking() {
        let (dir, root) = root_with(&[]);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("config.yaml").as_path(),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(root.open_read("config.yaml"), Err(FileError::Refused)));
        std::fs::create_dir(dir.path().join("version.txt")).unwrap();
        assert!(matches!(root.open_read("version.txt"), Err(FileError::Refused)));
    }

    #[test]
    fn hard_link_to_a_file_outside_the_root_is_refused_on_the_descriptor() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("shadow"), "root:x:0:0\n").unwrap();
        let (dir, root) = root_with(&[("config.yaml", "ok\n")]);
        std::fs::create_dir_all(dir.path().join("crashes")).unwrap();
        std::fs::hard_link(outside.path().join("shadow"), dir.path().join("crashes/x.txt")).unwrap();
        assert!(matches!(root.open_read("crashes/x.txt"), Err(FileError::Refused)));
        // A file that merely has a second name inside the root is refused too: the rule is on
        // the link count, since the other name's location cannot be known from the descriptor.
        std::fs::hard_link(dir.path().join("config.yaml"), dir.path().join("crashes/y.txt")).unwrap();
        assert!(matches!(root.open_read("config.yaml"), Err(FileError::Refused)));
        std::fs::remove_file(dir.path().join("crashes/y.txt")).unwrap();
        assert!(root.open_read("config.yaml").is_ok(), "one link again: readable");
    }

    #[test]
    fn missing_file_is_not_found() {
        let (_dir, root) = root_with(&[]);
        assert!(matches!(root.open_read("config.yaml"), Err(FileError::NotFound)));
    }

    #[test]
    fn atomic_replace_writes_content_and_exact_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let (dir, root) = root_with(&[("config.yaml", "old")]);
        let handle = root.open_dir("").unwrap();
        replace_atomically(&handle, "config.yaml", b"new", 0o640).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("config.yaml")).unwrap(), "new");
        let mode = std::fs::metadata(dir.path().join("config.yaml")).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
