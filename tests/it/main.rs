//! Whole-program tests, in one test binary: each file a room of its own
//! (headless runs, the serial driver on a pty, a hostile instrument, crash and
//! resume, a damaged log, the console in tmux and in snapshots, the models,
//! the reference readers). One binary rather than one per file, because each
//! test binary links the whole stack again (~20 s apiece on 2 cores).

// libc, to read a process's CPU time and user id and to hang a console up
// as sshd would: the only unsafe code in the tests.
#![allow(unsafe_code)]

mod common;

mod bad_input;
mod console_snapshots;
mod console_tmux;
mod crash_resume;
mod exclusion;
mod exports;
mod findings;
mod golden;
mod headless_run;
mod hostile_instrument;
mod learning;
mod nanonis;
mod operator;
mod protocols;
mod quality;
mod reference_readers;
mod reject;
mod replay;
mod serial_pty;
mod store_damage;
mod watch;
