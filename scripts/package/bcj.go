package main

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"fmt"
)

// Branch filters (as xz's BCJ filters): a call instruction holds its target relative to
// itself, so calls to one function from many places are all different bytes. Rewritten as
// absolute targets, they repeat, and Brotli finds them. The launcher undoes the filter
// (unfilter in scripts/launcher/run.js), which must mirror these functions exactly.
//
// Both filters are bijections whatever the bytes are: data that only looks like a call
// is transformed and transformed back like a call.

// filterX86 rewrites the rel32 of every E8 (CALL) and E9 (JMP) byte, skipping the four
// operand bytes of a rewritten one. Positions count from the start of text. encode false
// undoes it.
func filterX86(text []byte, encode bool) {
	for i := 0; i+5 <= len(text); {
		if text[i] != 0xE8 && text[i] != 0xE9 {
			i++
			continue
		}
		v := binary.LittleEndian.Uint32(text[i+1:])
		if encode {
			v += uint32(i + 5)
		} else {
			v -= uint32(i + 5)
		}
		binary.LittleEndian.PutUint32(text[i+1:], v)
		i += 5
	}
}

// filterARM64 rewrites the 26-bit word offset of every BL and the 21-bit page offset of
// every ADRP, instruction by instruction (4-byte aligned from the start of text).
func filterARM64(text []byte, encode bool) {
	for i := 0; i+4 <= len(text); i += 4 {
		w := binary.LittleEndian.Uint32(text[i:])
		pc := uint32(i)
		sign := uint32(1)
		if !encode {
			sign = ^uint32(0) // -1: subtract
		}
		switch {
		case w>>26 == 0x25: // BL imm26
			w = 0x94000000 | (w+sign*(pc>>2))&0x03FFFFFF
		case w&0x9F000000 == 0x90000000: // ADRP: immlo in bits 29-30, immhi in bits 5-23
			imm := (w>>29)&3 | (w>>3)&0x1FFFFC
			imm = (imm + sign*(pc>>12)) & 0x1FFFFF
			w = w&0x9F00001F | (imm&3)<<29 | (imm&0x1FFFFC)<<3
		default:
			continue
		}
		binary.LittleEndian.PutUint32(text[i:], w)
	}
}

// filterSpec says which filter applies to which bytes of a binary (bundle.json "filter").
type filterSpec struct {
	Kind  string `json:"kind"`  // "x86" or "arm64"
	Start int64  `json:"start"` // file offset of the code section
	End   int64  `json:"end"`
}

// apply runs the filter over data[Start:End] in place.
func (f filterSpec) apply(data []byte, encode bool) error {
	if f.Start < 0 || f.Start > f.End || f.End > int64(len(data)) {
		return fmt.Errorf("filter range %d..%d outside %d bytes", f.Start, f.End, len(data))
	}
	text := data[f.Start:f.End]
	switch f.Kind {
	case "x86":
		filterX86(text, encode)
	case "arm64":
		filterARM64(text, encode)
	default:
		return fmt.Errorf("unknown filter %q", f.Kind)
	}
	return nil
}

// inspect checks that data is an executable for p — the object format of its OS and the
// instruction set of its architecture — and returns the filter for its code section.
func inspect(data []byte, p Platform) (filterSpec, error) {
	kind := map[string]string{"amd64": "x86", "arm64": "arm64"}[p.GOARCH]
	if kind == "" {
		return filterSpec{}, fmt.Errorf("no filter for GOARCH %s", p.GOARCH)
	}
	r := bytes.NewReader(data)
	var (
		start, size uint64
		found       bool
	)
	switch p.GOOS {
	case "linux":
		f, err := elf.NewFile(r)
		if err != nil {
			return filterSpec{}, fmt.Errorf("%s: not an ELF executable: %w", p.Name, err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.GOARCH]
		if f.Machine != want || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
			return filterSpec{}, fmt.Errorf("%s: ELF %s %s %s, want %s executable", p.Name, f.Class, f.Type, f.Machine, want)
		}
		if s := f.Section(".text"); s != nil && s.Type == elf.SHT_PROGBITS {
			start, size, found = s.Offset, s.Size, true
		}
	case "darwin":
		f, err := macho.NewFile(r)
		if err != nil {
			return filterSpec{}, fmt.Errorf("%s: not a Mach-O executable: %w", p.Name, err)
		}
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[p.GOARCH]
		if f.Cpu != want || f.Type != macho.TypeExec {
			return filterSpec{}, fmt.Errorf("%s: Mach-O %s type %d, want %s executable", p.Name, f.Cpu, f.Type, want)
		}
		if s := f.Section("__text"); s != nil {
			start, size, found = uint64(s.Offset), s.Size, true
		}
	case "windows":
		f, err := pe.NewFile(r)
		if err != nil {
			return filterSpec{}, fmt.Errorf("%s: not a PE executable: %w", p.Name, err)
		}
		want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[p.GOARCH]
		if f.Machine != want || f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE == 0 || f.Characteristics&pe.IMAGE_FILE_DLL != 0 {
			return filterSpec{}, fmt.Errorf("%s: PE machine %#x characteristics %#x, want an executable for %#x", p.Name, f.Machine, f.Characteristics, want)
		}
		if s := f.Section(".text"); s != nil {
			start, size, found = uint64(s.Offset), uint64(min(s.Size, s.VirtualSize)), true
		}
	default:
		return filterSpec{}, fmt.Errorf("no object format for GOOS %s", p.GOOS)
	}
	if !found || size == 0 || start+size > uint64(len(data)) {
		return filterSpec{}, fmt.Errorf("%s: no code section in the file", p.Name)
	}
	return filterSpec{Kind: kind, Start: int64(start), End: int64(start + size)}, nil
}
