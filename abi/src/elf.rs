//! The parts of ELF64 that `exec` reads: the file header and program
//! headers. Parsing is pure and checks every field `exec` relies on, so a
//! truncated or hostile file is rejected here rather than trusted later.

/// `\x7fELF` read as a little-endian u32.
pub const ELF_MAGIC: u32 = 0x464c_457f;
pub const ELFCLASS64: u8 = 2;
pub const ELFDATA2LSB: u8 = 1;
pub const EM_RISCV: u16 = 243;
pub const ET_EXEC: u16 = 2;
/// Program header type of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// Segment permission bits.
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// Why a file is not an executable `exec` can load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    TooShort,
    BadMagic,
    NotRiscv64,
    BadProgramHeaders,
}

/// The ELF file header fields `exec` needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfHeader {
    pub entry: u64,
    pub phoff: u64,
    pub phentsize: u16,
    pub phnum: u16,
}

impl ElfHeader {
    pub const SIZE: usize = 64;

    pub fn parse(b: &[u8]) -> Result<ElfHeader, ElfError> {
        if b.len() < Self::SIZE {
            return Err(ElfError::TooShort);
        }
        if u32::from_le_bytes(crate::fs::take(b, 0)) != ELF_MAGIC {
            return Err(ElfError::BadMagic);
        }
        let machine = u16::from_le_bytes(crate::fs::take(b, 18));
        if b[4] != ELFCLASS64 || b[5] != ELFDATA2LSB || machine != EM_RISCV {
            return Err(ElfError::NotRiscv64);
        }
        let h = ElfHeader {
            entry: u64::from_le_bytes(crate::fs::take(b, 24)),
            phoff: u64::from_le_bytes(crate::fs::take(b, 32)),
            phentsize: u16::from_le_bytes(crate::fs::take(b, 54)),
            phnum: u16::from_le_bytes(crate::fs::take(b, 56)),
        };
        if h.phnum > 0 && (h.phentsize as usize) < ProgramHeader::SIZE {
            return Err(ElfError::BadProgramHeaders);
        }
        Ok(h)
    }

    /// File offset of program header `i`, or `None` if it would overflow.
    pub fn ph_offset(&self, i: u16) -> Option<u64> {
        (i as u64)
            .checked_mul(self.phentsize as u64)?
            .checked_add(self.phoff)
    }
}

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    pub typ: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

impl ProgramHeader {
    pub const SIZE: usize = 56;

    pub fn parse(b: &[u8]) -> Result<ProgramHeader, ElfError> {
        if b.len() < Self::SIZE {
            return Err(ElfError::TooShort);
        }
        let u64_at = |off| u64::from_le_bytes(crate::fs::take(b, off));
        Ok(ProgramHeader {
            typ: u32::from_le_bytes(crate::fs::take(b, 0)),
            flags: u32::from_le_bytes(crate::fs::take(b, 4)),
            offset: u64_at(8),
            vaddr: u64_at(16),
            filesz: u64_at(32),
            memsz: u64_at(40),
        })
    }

    /// Checks a loadable segment against the address-space limit `maxva`:
    /// sizes consistent, no wrap-around, page-aligned start. Returns the end
    /// virtual address.
    pub fn check_load(&self, maxva: u64, pgsize: u64) -> Result<u64, ElfError> {
        let end = self.vaddr.checked_add(self.memsz);
        match end {
            Some(end)
                if self.memsz >= self.filesz
                    && end <= maxva
                    && self.vaddr.is_multiple_of(pgsize)
                    && self.offset.checked_add(self.filesz).is_some() =>
            {
                Ok(end)
            }
            _ => Err(ElfError::BadProgramHeaders),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(phnum: u16) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = ELFCLASS64;
        b[5] = ELFDATA2LSB;
        b[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[18..20].copy_from_slice(&EM_RISCV.to_le_bytes());
        b[24..32].copy_from_slice(&0x1234u64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&phnum.to_le_bytes());
        b
    }

    #[test]
    fn parses_a_header() {
        let h = ElfHeader::parse(&header(2)).unwrap();
        assert_eq!(h.entry, 0x1234);
        assert_eq!(h.phnum, 2);
        assert_eq!(h.ph_offset(1), Some(120));
    }

    #[test]
    fn rejects_bad_files() {
        assert_eq!(ElfHeader::parse(&[0x7f, b'E']), Err(ElfError::TooShort));
        let mut b = header(1);
        b[1] = b'X';
        assert_eq!(ElfHeader::parse(&b), Err(ElfError::BadMagic));
        let mut b = header(1);
        b[18] = 62; // x86-64
        assert_eq!(ElfHeader::parse(&b), Err(ElfError::NotRiscv64));
        let mut b = header(1);
        b[54] = 8;
        assert_eq!(ElfHeader::parse(&b), Err(ElfError::BadProgramHeaders));
        let mut b = header(1);
        b[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(ElfHeader::parse(&b).unwrap().ph_offset(1), None);
    }

    #[test]
    fn program_header_checks() {
        let mut b = [0u8; 56];
        b[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
        b[4..8].copy_from_slice(&(PF_R | PF_X).to_le_bytes());
        b[16..24].copy_from_slice(&0x1000u64.to_le_bytes());
        b[32..40].copy_from_slice(&0x800u64.to_le_bytes());
        b[40..48].copy_from_slice(&0x900u64.to_le_bytes());
        let ph = ProgramHeader::parse(&b).unwrap();
        assert_eq!(ph.flags, PF_R | PF_X);
        assert_eq!(ph.check_load(1 << 38, 4096), Ok(0x1900));

        let grows_down = ProgramHeader { memsz: 0x100, ..ph };
        assert!(grows_down.check_load(1 << 38, 4096).is_err());
        let wraps = ProgramHeader {
            vaddr: u64::MAX - 0x10,
            ..ph
        };
        assert!(wraps.check_load(u64::MAX, 1).is_err());
        let too_high = ProgramHeader {
            vaddr: 1 << 38,
            ..ph
        };
        assert!(too_high.check_load(1 << 38, 4096).is_err());
        let unaligned = ProgramHeader {
            vaddr: 0x1010,
            ..ph
        };
        assert!(unaligned.check_load(1 << 38, 4096).is_err());
        assert_eq!(ProgramHeader::parse(&b[..40]), Err(ElfError::TooShort));
    }
}
