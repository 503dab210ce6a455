//! The virtio block device driver (virtio-mmio, modern version 2 as well as
//! legacy version 1), with one queue of eight descriptors.
//!
//! Each request uses three chained descriptors: the request header, the
//! data block, and a status byte the device writes.

use crate::bio::BlockData;
use crate::proc;
use crate::spinlock::{SpinLock, SpinLockGuard};
use abi::fs::BSIZE;
use abi::memlayout::{PGSIZE, VIRTIO0};
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{Ordering, fence};

// MMIO register offsets (virtio spec 4.2.2).
const MAGIC_VALUE: usize = 0x000;
const VERSION: usize = 0x004;
const DEVICE_ID: usize = 0x008;
const VENDOR_ID: usize = 0x00c;
const DEVICE_FEATURES: usize = 0x010;
const DEVICE_FEATURES_SEL: usize = 0x014;
const DRIVER_FEATURES: usize = 0x020;
const DRIVER_FEATURES_SEL: usize = 0x024;
const LEGACY_GUEST_PAGE_SIZE: usize = 0x028;
const QUEUE_SEL: usize = 0x030;
const QUEUE_NUM_MAX: usize = 0x034;
const QUEUE_NUM: usize = 0x038;
const LEGACY_QUEUE_ALIGN: usize = 0x03c;
const LEGACY_QUEUE_PFN: usize = 0x040;
const QUEUE_READY: usize = 0x044;
const QUEUE_NOTIFY: usize = 0x050;
const INTERRUPT_STATUS: usize = 0x060;
const INTERRUPT_ACK: usize = 0x064;
const STATUS: usize = 0x070;
const QUEUE_DESC_LOW: usize = 0x080;
const QUEUE_DESC_HIGH: usize = 0x084;
const QUEUE_DRIVER_LOW: usize = 0x090;
const QUEUE_DRIVER_HIGH: usize = 0x094;
const QUEUE_DEVICE_LOW: usize = 0x0a0;
const QUEUE_DEVICE_HIGH: usize = 0x0a4;

// Device status bits.
const STATUS_ACKNOWLEDGE: u32 = 1;
const STATUS_DRIVER: u32 = 2;
const STATUS_DRIVER_OK: u32 = 4;
const STATUS_FEATURES_OK: u32 = 8;

// Feature bits we refuse (low word) and the one we need (high word).
const BLK_F_RO: u32 = 5;
const BLK_F_SCSI: u32 = 7;
const BLK_F_CONFIG_WCE: u32 = 11;
const BLK_F_MQ: u32 = 12;
const F_ANY_LAYOUT: u32 = 27;
const RING_F_INDIRECT_DESC: u32 = 28;
const RING_F_EVENT_IDX: u32 = 29;
/// VIRTIO_F_VERSION_1 is feature bit 32: bit 0 of the high word.
const F_VERSION_1_HIGH: u32 = 1;

/// Descriptors in the queue: three per request, so ten requests at once.
const NUM: usize = 32;

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;

const BLK_T_IN: u32 = 0;
const BLK_T_OUT: u32 = 1;

#[derive(Clone, Copy)]
#[repr(C)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

#[repr(C)]
struct Avail {
    flags: u16,
    idx: u16,
    ring: [u16; NUM],
    unused: u16,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct UsedElem {
    id: u32,
    len: u32,
}

#[repr(C)]
struct Used {
    flags: u16,
    idx: u16,
    ring: [UsedElem; NUM],
}

/// The queue memory shared with the device. The legacy interface wants
/// descriptors and the available ring in one page and the used ring at the
/// next page boundary; modern devices accept that layout too.
#[repr(C, align(4096))]
struct Queue {
    desc: [Desc; NUM],
    avail: Avail,
    _pad: [u8; PGSIZE - NUM * 16 - (4 + 2 * NUM + 2)],
    used: Used,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct BlkReq {
    typ: u32,
    reserved: u32,
    sector: u64,
}

#[derive(Clone, Copy)]
struct Info {
    /// The device writes 0 here on success.
    status: u8,
    /// Set by the interrupt handler when the request is finished.
    done: bool,
}

struct Disk {
    queue: Queue,
    free: [bool; NUM],
    /// How far the used ring has been processed.
    used_idx: u16,
    info: [Info; NUM],
    ops: [BlkReq; NUM],
}

static DISK: SpinLock<Disk> = SpinLock::new(
    "virtio_disk",
    Disk {
        queue: Queue {
            desc: [Desc {
                addr: 0,
                len: 0,
                flags: 0,
                next: 0,
            }; NUM],
            avail: Avail {
                flags: 0,
                idx: 0,
                ring: [0; NUM],
                unused: 0,
            },
            _pad: [0; PGSIZE - NUM * 16 - (4 + 2 * NUM + 2)],
            used: Used {
                flags: 0,
                idx: 0,
                ring: [UsedElem { id: 0, len: 0 }; NUM],
            },
        },
        free: [true; NUM],
        used_idx: 0,
        info: [Info {
            status: 0,
            done: false,
        }; NUM],
        ops: [BlkReq {
            typ: 0,
            reserved: 0,
            sector: 0,
        }; NUM],
    },
);

fn read(off: usize) -> u32 {
    // SAFETY: the virtio-mmio window is mapped in the kernel page table.
    unsafe { read_volatile((VIRTIO0 + off) as *const u32) }
}

fn write(off: usize, v: u32) {
    // SAFETY: as for `read`.
    unsafe { write_volatile((VIRTIO0 + off) as *mut u32, v) }
}

/// Channel a request's submitter sleeps on.
fn info_chan(d: &Disk, i: usize) -> usize {
    addr_of!(d.info[i]) as usize
}

fn free_chan(d: &Disk) -> usize {
    addr_of!(d.free) as usize
}

pub(crate) fn init() {
    let mut d = DISK.lock();
    let version = read(VERSION);
    if read(MAGIC_VALUE) != 0x7472_6976
        || !(version == 1 || version == 2)
        || read(DEVICE_ID) != 2
        || read(VENDOR_ID) != 0x554d_4551
    {
        panic!("could not find virtio disk");
    }
    let mut status = 0;
    write(STATUS, status);
    status |= STATUS_ACKNOWLEDGE;
    write(STATUS, status);
    status |= STATUS_DRIVER;
    write(STATUS, status);

    write(DEVICE_FEATURES_SEL, 0);
    let refused = [
        BLK_F_RO,
        BLK_F_SCSI,
        BLK_F_CONFIG_WCE,
        BLK_F_MQ,
        F_ANY_LAYOUT,
        RING_F_EVENT_IDX,
        RING_F_INDIRECT_DESC,
    ]
    .iter()
    .fold(0u32, |m, b| m | (1 << b));
    let features = read(DEVICE_FEATURES) & !refused;
    write(DRIVER_FEATURES_SEL, 0);
    write(DRIVER_FEATURES, features);
    if version == 2 {
        write(DEVICE_FEATURES_SEL, 1);
        let high = read(DEVICE_FEATURES) & F_VERSION_1_HIGH;
        write(DRIVER_FEATURES_SEL, 1);
        write(DRIVER_FEATURES, high);
        status |= STATUS_FEATURES_OK;
        write(STATUS, status);
        if read(STATUS) & STATUS_FEATURES_OK == 0 {
            panic!("virtio disk FEATURES_OK unset");
        }
    }

    write(QUEUE_SEL, 0);
    if version == 2 && read(QUEUE_READY) != 0 {
        panic!("virtio disk should not be ready");
    }
    let max = read(QUEUE_NUM_MAX);
    if max == 0 {
        panic!("virtio disk has no queue 0");
    }
    if (max as usize) < NUM {
        panic!("virtio disk max queue too short");
    }
    write(QUEUE_NUM, NUM as u32);
    let q = &mut d.queue;
    if version == 2 {
        let desc = addr_of_mut!(q.desc) as u64;
        let avail = addr_of_mut!(q.avail) as u64;
        let used = addr_of_mut!(q.used) as u64;
        write(QUEUE_DESC_LOW, desc as u32);
        write(QUEUE_DESC_HIGH, (desc >> 32) as u32);
        write(QUEUE_DRIVER_LOW, avail as u32);
        write(QUEUE_DRIVER_HIGH, (avail >> 32) as u32);
        write(QUEUE_DEVICE_LOW, used as u32);
        write(QUEUE_DEVICE_HIGH, (used >> 32) as u32);
        write(QUEUE_READY, 1);
    } else {
        write(LEGACY_GUEST_PAGE_SIZE, PGSIZE as u32);
        write(LEGACY_QUEUE_ALIGN, PGSIZE as u32);
        write(LEGACY_QUEUE_PFN, (q as *mut Queue as usize / PGSIZE) as u32);
    }
    status |= STATUS_DRIVER_OK;
    write(STATUS, status);
}

fn alloc_desc(d: &mut Disk) -> Option<usize> {
    let i = d.free.iter().position(|&f| f)?;
    d.free[i] = false;
    Some(i)
}

fn free_desc(d: &mut Disk, i: usize) {
    assert!(!d.free[i], "virtio: double free of descriptor {}", i);
    d.queue.desc[i] = Desc {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    };
    d.free[i] = true;
}

/// Frees a request's descriptors and wakes whoever waits for some.
fn free_chain(d: &mut Disk, mut i: usize) {
    loop {
        let desc = d.queue.desc[i];
        free_desc(d, i);
        if desc.flags & DESC_F_NEXT == 0 {
            break;
        }
        i = desc.next as usize;
    }
    proc::wakeup(free_chan(d));
}

/// Three free descriptors, or none.
fn alloc3(d: &mut Disk) -> Option<[usize; 3]> {
    let mut idx = [0; 3];
    for k in 0..3 {
        match alloc_desc(d) {
            Some(i) => idx[k] = i,
            None => {
                // Free before this call: no one waits for these.
                for &j in &idx[..k] {
                    free_desc(d, j);
                }
                return None;
            }
        }
    }
    Some(idx)
}

/// Puts a request for block `blockno` (buffer at `data`, BSIZE bytes) on
/// the queue and tells the device, if three descriptors are free; returns
/// the chain's head, which [`wait`] waits on.
fn try_submit(d: &mut Disk, data: u64, blockno: u32, write_op: bool) -> Option<usize> {
    let idx = alloc3(d)?;
    let sector = blockno as u64 * (BSIZE as u64 / 512);
    d.ops[idx[0]] = BlkReq {
        typ: if write_op { BLK_T_OUT } else { BLK_T_IN },
        reserved: 0,
        sector,
    };
    let req = addr_of!(d.ops[idx[0]]) as u64;
    let status = addr_of!(d.info[idx[0]].status) as u64;
    d.queue.desc[idx[0]] = Desc {
        addr: req,
        len: core::mem::size_of::<BlkReq>() as u32,
        flags: DESC_F_NEXT,
        next: idx[1] as u16,
    };
    d.queue.desc[idx[1]] = Desc {
        addr: data,
        len: BSIZE as u32,
        // The device writes the buffer on a read.
        flags: DESC_F_NEXT | if write_op { 0 } else { DESC_F_WRITE },
        next: idx[2] as u16,
    };
    d.info[idx[0]] = Info {
        status: 0xff,
        done: false,
    };
    d.queue.desc[idx[2]] = Desc {
        addr: status,
        len: 1,
        flags: DESC_F_WRITE,
        next: 0,
    };
    // Publish the chain, then the new index, then tell the device.
    let slot = d.queue.avail.idx as usize % NUM;
    d.queue.avail.ring[slot] = idx[0] as u16;
    fence(Ordering::SeqCst);
    d.queue.avail.idx = d.queue.avail.idx.wrapping_add(1);
    fence(Ordering::SeqCst);
    write(QUEUE_NOTIFY, 0);
    Some(idx[0])
}

/// Sleeps until the request at `head` is finished, then frees its chain.
fn wait(mut d: SpinLockGuard<'static, Disk>, head: usize) -> SpinLockGuard<'static, Disk> {
    // SAFETY: `done` is written by `intr` under the same lock; the volatile
    // read keeps the compiler from caching it across sleeps.
    while !unsafe { read_volatile(addr_of!(d.info[head].done)) } {
        let chan = info_chan(&d, head);
        d = proc::sleep(chan, d);
    }
    free_chain(&mut d, head);
    d
}

/// Reads or writes block `blockno` from/to `data`, sleeping until done.
/// A buffer of the cache: the device needs its physical address.
pub(crate) fn rw(data: &mut BlockData, blockno: u32, write_op: bool) {
    let mut d = DISK.lock();
    let head = loop {
        if let Some(h) = try_submit(&mut d, data.phys_addr(), blockno, write_op) {
            break h;
        }
        let chan = free_chan(&d);
        d = proc::sleep(chan, d);
    };
    drop(wait(d, head));
}

/// Requests one process keeps in flight in [`write_all`].
const MAX_IN_FLIGHT: usize = NUM / 3;

/// Writes each `(data, blockno)` of `blocks`, several requests in flight
/// at once, and returns when all are done: a log commit's blocks then
/// cost about one round trip to the device, not one each.
pub(crate) fn write_all<'a>(blocks: impl IntoIterator<Item = (&'a BlockData, u32)>) {
    let mut blocks = blocks.into_iter().peekable();
    // Our requests in flight, oldest first (a ring).
    let mut heads = [0usize; MAX_IN_FLIGHT];
    let (mut first, mut count) = (0, 0);
    let mut d = DISK.lock();
    loop {
        if count < MAX_IN_FLIGHT
            && let Some(&(data, blockno)) = blocks.peek()
        {
            // The device only reads the buffer of a write.
            if let Some(h) = try_submit(&mut d, data.phys_addr(), blockno, true) {
                heads[(first + count) % MAX_IN_FLIGHT] = h;
                count += 1;
                blocks.next();
                continue;
            }
            if count == 0 {
                // Other processes hold every descriptor.
                let chan = free_chan(&d);
                d = proc::sleep(chan, d);
                continue;
            }
        }
        if count == 0 {
            return;
        }
        d = wait(d, heads[first]);
        first = (first + 1) % MAX_IN_FLIGHT;
        count -= 1;
    }
}

/// Handles a disk interrupt: completes every request the device finished.
pub(crate) fn intr() {
    let mut d = DISK.lock();
    // Acknowledge first, so a completion that arrives while we work raises
    // a new interrupt.
    write(INTERRUPT_ACK, read(INTERRUPT_STATUS) & 0x3);
    fence(Ordering::SeqCst);
    loop {
        // SAFETY: the device writes the used ring; read it volatile.
        let used_idx = unsafe { read_volatile(addr_of!(d.queue.used.idx)) };
        if d.used_idx == used_idx {
            break;
        }
        fence(Ordering::SeqCst);
        let slot = d.used_idx as usize % NUM;
        // SAFETY: as above.
        let id = unsafe { read_volatile(addr_of!(d.queue.used.ring[slot].id)) } as usize;
        // SAFETY: the device wrote the status byte before the used entry.
        let status = unsafe { read_volatile(addr_of!(d.info[id].status)) };
        if status != 0 {
            panic!("virtio disk: request failed with status {}", status);
        }
        d.info[id].done = true;
        proc::wakeup(info_chan(&d, id));
        d.used_idx = d.used_idx.wrapping_add(1);
    }
}
