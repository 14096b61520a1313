//! Live reload triggers: a `notify` watcher on the directories of the config file and of every
//! secret file it names, and SIGHUP. Watching directories, not files, is what survives in-place
//! writes, an editor's save-by-rename, `mv tmp gateway.toml`, delete-and-recreate and Kubernetes'
//! `..data` symlink swap. A burst of events becomes one reload after a quiet period.

use super::Reloader;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Quiet period after the last event before reloading: editors and Kubernetes touch several
/// files per change.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    FileChange,
    Signal,
    Stop,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Trigger::FileChange => "file change",
            Trigger::Signal => "SIGHUP",
            Trigger::Stop => "stop",
        }
    }
}

/// Asks the watcher thread for a reload (what SIGHUP does).
#[derive(Clone)]
pub struct ReloadTrigger(mpsc::Sender<Trigger>);

impl ReloadTrigger {
    pub fn reload(&self) {
        let _ = self.0.send(Trigger::Signal);
    }
}

/// The watcher thread; stops when dropped.
pub struct ConfigWatcher {
    sender: mpsc::Sender<Trigger>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConfigWatcher {
    pub fn start(reloader: Arc<Reloader>) -> notify::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let names = Arc::new(Mutex::new(HashSet::new()));
        let event_sender = sender.clone();
        let event_names = names.clone();
        // Created before the thread, so a failure to watch is reported at start-up.
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            let Ok(event) = event else { return };
            let names = event_names.lock().unwrap_or_else(|p| p.into_inner());
            if concerns_us(&event, &names) {
                let _ = event_sender.send(Trigger::FileChange);
            }
        })?;
        let mut watched = BTreeSet::new();
        rewatch(&mut watcher, &mut watched, &names, &reloader);

        let thread = std::thread::Builder::new()
            .name("config-watcher".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let Some(trigger) = debounce(first, &receiver) else {
                        return;
                    };
                    let _ = reloader.reload(trigger.name());
                    rewatch(&mut watcher, &mut watched, &names, &reloader);
                }
            })?;
        Ok(Self {
            sender,
            thread: Some(thread),
        })
    }

    pub fn trigger(&self) -> ReloadTrigger {
        ReloadTrigger(self.sender.clone())
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        let _ = self.sender.send(Trigger::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits until no trigger has arrived for [`DEBOUNCE`]; a signal among them wins the name.
/// `None` means stop.
fn debounce(first: Trigger, receiver: &mpsc::Receiver<Trigger>) -> Option<Trigger> {
    let mut trigger = first;
    loop {
        if trigger == Trigger::Stop {
            return None;
        }
        match receiver.recv_timeout(DEBOUNCE) {
            Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return None,
            Ok(Trigger::Signal) => trigger = Trigger::Signal,
            Ok(Trigger::FileChange) => {}
            Err(RecvTimeoutError::Timeout) => return Some(trigger),
        }
    }
}

/// Whether an event in a watched directory touches one of our files, or Kubernetes' `..data`
/// machinery. Reads (our own, while reloading) are not changes.
fn concerns_us(event: &Event, names: &HashSet<OsString>) -> bool {
    if let EventKind::Access(kind) = event.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return false;
        }
    }
    event.paths.iter().any(|path| {
        path.file_name()
            .is_some_and(|name| names.contains(name) || name.to_string_lossy().starts_with(".."))
    })
}

/// Watches the directories the current configuration depends on, and no others. A directory
/// that could not be watched (not there yet) is tried again after the next event.
fn rewatch(
    watcher: &mut RecommendedWatcher,
    watched: &mut BTreeSet<PathBuf>,
    names: &Mutex<HashSet<OsString>>,
    reloader: &Reloader,
) {
    let mut files: Vec<PathBuf> = reloader.source().file.iter().cloned().collect();
    files.extend(reloader.current_secret_files());
    let files: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect();
    *names.lock().unwrap_or_else(|p| p.into_inner()) = files
        .iter()
        .filter_map(|f| f.file_name().map(OsString::from))
        .collect();
    let wanted: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    for gone in watched.difference(&wanted).cloned().collect::<Vec<_>>() {
        let _ = watcher.unwatch(&gone);
        watched.remove(&gone);
    }
    for directory in wanted {
        if watched.contains(&directory) {
            continue;
        }
        match watcher.watch(&directory, RecursiveMode::NonRecursive) {
            Ok(()) => {
                watched.insert(directory);
            }
            Err(err) => {
                tracing::warn!(directory = %directory.display(), error = %err, "cannot watch for configuration changes")
            }
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
