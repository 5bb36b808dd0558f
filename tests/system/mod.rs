//! The system under faults and as a process: crash and restart, full and failing disks,
//! descriptor exhaustion, outages, overload, slow clients, clock skew, metrics, SMTP,
//! the sidecar's shell.

mod bulk_migration;
mod clock_skew;
mod crash;
mod disk_full;
mod durability;
mod fd_exhaustion;
mod fsync_eio;
mod observability;
mod outage;
mod overload;
mod queued_mail;
mod replicas;
mod sidecar_shell;
mod slowloris;
mod smtp;
