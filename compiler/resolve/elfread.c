/* elfread.c — what one ELF file says about its loading: PT_INTERP, the
 * dynamic section (DT_NEEDED, DT_RPATH/DT_RUNPATH, DT_SONAME) and the
 * .note.dlopen metadata, read with libelf from the program headers only. */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lib/arch.h"
#include "lib/diag.h"
#include "resolve/elfdeps_int.h"

#define NT_FDO_DLOPEN 0x407c0c0a

int elf_arch_machine(const char *arch)
{
	const struct arch *a = arch_find(arch);
	return a ? a->machine : 0;
}

const char *elf_machine_arch(int machine)
{
	const struct arch *a = arch_by_machine(machine);
	return a ? a->name : NULL;
}

/* e_machine of an ELF image's first bytes (either byte order), 0 if none. */
int elf_head_machine(const unsigned char *h, size_t n)
{
	if (n < 20 || memcmp(h, ELFMAG, SELFMAG))
		return 0;
	return h[EI_DATA] == ELFDATA2MSB ? h[18] << 8 | h[19] : h[19] << 8 | h[18];
}
/* ---- reading one ELF file ---------------------------------------------- */

void elf_info_free(struct elf_info *in)
{
	free(in->interp);
	free(in->rpath);
	free(in->runpath);
	free(in->soname);
	sl_release(&in->needed);
	sl_release(&in->dlopen);
	sl_release(&in->dlopen_required);
	*in = (struct elf_info){ 0 };
}

struct phdrs {
	GElf_Phdr interp, dynamic, *loads, *notes;
	size_t nloads, nnotes, aloads, anotes;
	bool has_interp, has_dynamic;
};

static int read_phdrs(Elf *elf, struct phdrs *ph)
{
	size_t n;
	if (elf_getphdrnum(elf, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && i < 65536; i++) {
		GElf_Phdr p;
		if (!gelf_getphdr(elf, (int)i, &p))
			return -1;
		if (p.p_type == PT_INTERP && !ph->has_interp) {
			ph->interp = p;
			ph->has_interp = true;
		} else if (p.p_type == PT_DYNAMIC && !ph->has_dynamic) {
			ph->dynamic = p;
			ph->has_dynamic = true;
		} else if (p.p_type == PT_LOAD) {
			GROW(ph->loads, ph->nloads + 1, ph->aloads);
			ph->loads[ph->nloads++] = p;
		} else if (p.p_type == PT_NOTE) {
			GROW(ph->notes, ph->nnotes + 1, ph->anotes);
			ph->notes[ph->nnotes++] = p;
		}
	}
	return 0;
}

/* DT_STRTAB is an address; the loader maps it through the PT_LOAD segments. */
static bool vaddr_to_offset(const struct phdrs *ph, uint64_t addr, uint64_t *off)
{
	for (size_t i = 0; i < ph->nloads; i++) {
		const GElf_Phdr *p = &ph->loads[i];
		if (addr >= p->p_vaddr && addr - p->p_vaddr < p->p_filesz) {
			*off = addr - p->p_vaddr + p->p_offset;
			return true;
		}
	}
	return false;
}

/* A NUL-terminated string at `idx` of a string table of `size` bytes. */
static char *strtab_get(const Elf_Data *tab, uint64_t idx)
{
	if (!tab || idx >= tab->d_size)
		return NULL;
	const char *s = (const char *)tab->d_buf + idx;
	size_t max = tab->d_size - idx, len = strnlen(s, max);
	return len < max ? xstrndup(s, len) : NULL;
}

struct dyn_refs {
	uint64_t strtab, strsz, rpath, runpath, soname;
	bool has_strtab, has_rpath, has_runpath, has_soname;
	uint64_t *needed;
	size_t nneeded, aneeded;
};

static int read_dynamic(Elf *elf, const GElf_Phdr *dyn, struct dyn_refs *r)
{
	Elf_Data *d = elf_getdata_rawchunk(elf, dyn->p_offset, dyn->p_filesz, ELF_T_DYN);
	if (!d)
		return -1;
	GElf_Dyn e;
	for (int i = 0; gelf_getdyn(d, i, &e) && e.d_tag != DT_NULL; i++) {
		switch (e.d_tag) {
		case DT_NEEDED:
			GROW(r->needed, r->nneeded + 1, r->aneeded);
			r->needed[r->nneeded++] = e.d_un.d_val;
			break;
		case DT_STRTAB: r->strtab = e.d_un.d_ptr; r->has_strtab = true; break;
		case DT_STRSZ: r->strsz = e.d_un.d_val; break;
		case DT_RPATH: r->rpath = e.d_un.d_val; r->has_rpath = true; break;
		case DT_RUNPATH: r->runpath = e.d_un.d_val; r->has_runpath = true; break;
		case DT_SONAME: r->soname = e.d_un.d_val; r->has_soname = true; break;
		}
	}
	return 0;
}

static int fill_dynamic(Elf *elf, const struct phdrs *ph, struct elf_info *in, struct strbuf *err)
{
	struct dyn_refs r = { 0 };
	uint64_t off;
	int rc = -1;
	if (read_dynamic(elf, &ph->dynamic, &r) < 0) {
		sb_addf(err, "its dynamic section is unreadable (%s)", elf_errmsg(-1));
		goto out;
	}
	if (!r.has_strtab) {
		rc = r.nneeded || r.has_rpath || r.has_runpath ? (sb_adds(err, "it has no DT_STRTAB"), -1) : 0;
		goto out;
	}
	Elf_Data *tab = vaddr_to_offset(ph, r.strtab, &off) ? elf_getdata_rawchunk(elf, off, r.strsz, ELF_T_BYTE) : NULL;
	if (!tab) {
		sb_adds(err, "its dynamic string table lies outside the file");
		goto out;
	}
	for (size_t i = 0; i < r.nneeded; i++) {
		char *s = strtab_get(tab, r.needed[i]);
		if (!s || !*s) {
			free(s);
			sb_adds(err, "a DT_NEEDED entry points outside its string table");
			goto out;
		}
		sl_push_owned(&in->needed, s);
	}
	in->rpath = r.has_rpath ? strtab_get(tab, r.rpath) : NULL;
	in->runpath = r.has_runpath ? strtab_get(tab, r.runpath) : NULL;
	in->soname = r.has_soname ? strtab_get(tab, r.soname) : NULL;
	in->has_runpath = r.has_runpath;
	rc = 0;
out:
	free(r.needed);
	return rc;
}

/* The freedesktop dlopen-metadata note holds a JSON array of objects, each
 * with a "soname" array and a "priority" (required, recommended, suggested).
 * Only those two keys matter here, so a small scanner does. */
static const char *json_string(const char *p, const char *end, struct strbuf *out)
{
	sb_reset(out);
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		sb_addch(out, *p);
	}
	return p < end ? p + 1 : end;
}

/* Past one JSON value (string, number, nested object or array) at p. */
static const char *json_skip(const char *p, const char *end, struct strbuf *tmp)
{
	int depth = 0;
	do {
		if (*p == '"')
			p = json_string(p, end, tmp);
		else {
			depth += *p == '{' || *p == '[';
			depth -= *p == '}' || *p == ']';
			if (depth <= 0 && (*p == ',' || *p == '}' || *p == ']'))
				return *p == ',' && depth == 0 ? p : p + 1; /* a stray closer: past it */
			p++;
		}
	} while (p < end && depth > 0);
	return p;
}

static const char *json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

/* One object's own keys only: a "soname" inside a nested object (or a
 * string value that reads "soname") names no library. */
static void dlopen_object(const char *p, const char *end, struct elf_info *in)
{
	struct strbuf s = STRBUF_INIT;
	struct strlist names = STRLIST_INIT;
	char priority[16] = "recommended";
	while ((p = json_ws(p, end)) < end) {
		if (*p != '"') {
			p = *p == ',' ? p + 1 : json_skip(p, end, &s);
			continue;
		}
		p = json_ws(json_string(p, end, &s), end);
		if (p >= end || *p != ':')
			continue;
		bool soname = !strcmp(sb_str(&s), "soname"), prio = !strcmp(sb_str(&s), "priority");
		p = json_ws(p + 1, end);
		if (soname && p < end && *p == '[') {
			for (p++; (p = json_ws(p, end)) < end && *p != ']';) {
				if (*p == '"') {
					p = json_string(p, end, &s);
					if (s.len && !strchr(s.buf, '\n'))
						sl_push(&names, s.buf);
				} else {
					p = *p == ',' ? p + 1 : json_skip(p, end, &s);
				}
			}
			p = p < end ? p + 1 : end;
		} else if (prio && p < end && *p == '"') {
			p = json_string(p, end, &s);
			snprintf(priority, sizeof(priority), "%s", sb_str(&s));
		} else if (p < end) {
			p = json_skip(p, end, &s);
		}
	}
	for (size_t i = 0; i < names.n; i++)
		if (strcmp(priority, "suggested"))
			sl_push(!strcmp(priority, "required") ? &in->dlopen_required : &in->dlopen, names.v[i]);
	sl_release(&names);
	sb_release(&s);
}

static void dlopen_json(const char *p, size_t len, struct elf_info *in)
{
	const char *end = p + len, *start = NULL;
	int depth = 0;
	bool str = false;
	for (; p < end && *p; p++) {
		if (str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				str = false;
		} else if (*p == '"') {
			str = true;
		} else if (*p == '{' && depth++ == 0) {
			start = p;
		} else if (*p == '}' && depth > 0 && --depth == 0) {
			dlopen_object(start + 1, p, in);
		}
	}
}

static void read_notes(Elf *elf, const struct phdrs *ph, struct elf_info *in)
{
	for (size_t i = 0; i < ph->nnotes; i++) {
		const GElf_Phdr *p = &ph->notes[i];
		Elf_Data *d = elf_getdata_rawchunk(elf, p->p_offset, p->p_filesz, p->p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		GElf_Nhdr n;
		size_t off = 0, next, name_off, desc_off;
		while (d && (next = gelf_getnote(d, off, &n, &name_off, &desc_off)) > 0) {
			const char *name = (const char *)d->d_buf + name_off;
			if (n.n_type == NT_FDO_DLOPEN && n.n_namesz == 4 && !memcmp(name, "FDO", 4))
				dlopen_json((const char *)d->d_buf + desc_off, n.n_descsz, in);
			off = next;
		}
	}
}

int elf_info_from_elf(Elf *elf, struct elf_info *in, struct strbuf *err)
{
	GElf_Ehdr eh;
	struct phdrs ph = { 0 };
	int rc = -1;
	*in = (struct elf_info){ 0 };
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		sb_addf(err, "it is not a valid ELF file (%s)", elf_errmsg(-1));
		return -1;
	}
	in->cls = gelf_getclass(elf);
	in->machine = eh.e_machine;
	in->type = eh.e_type;
	if (read_phdrs(elf, &ph) < 0) {
		sb_addf(err, "its program headers are unreadable (%s)", elf_errmsg(-1));
		goto out;
	}
	if (ph.has_interp) {
		Elf_Data *d = elf_getdata_rawchunk(elf, ph.interp.p_offset, ph.interp.p_filesz, ELF_T_BYTE);
		in->interp = d ? strtab_get(d, 0) : NULL;
		if (!in->interp || !*in->interp) {
			sb_adds(err, "its PT_INTERP is unreadable");
			goto out;
		}
	}
	if (ph.has_dynamic && fill_dynamic(elf, &ph, in, err) < 0)
		goto out;
	read_notes(elf, &ph, in);
	rc = 0;
out:
	free(ph.loads);
	free(ph.notes);
	if (rc)
		elf_info_free(in);
	return rc;
}

int elf_info_read(const char *path, struct elf_info *in, struct strbuf *err)
{
	*in = (struct elf_info){ 0 };
	struct stat st;
	int fd = open_regular(path, &st); /* a FIFO in a sysroot must not hang the build */
	if (fd < 0) {
		sb_addf(err, "cannot open %s: %s", path, read_strerror(errno));
		return -1;
	}
	char head[256];
	ssize_t n = pread(fd, head, sizeof(head) - 1, 0);
	int rc = -1;
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		head[n] = 0;
		in->interp = xstrndup(head + 2, strcspn(head + 2, "\n"));
		rc = 0;
	} else if (n >= 4 && !memcmp(head, ELFMAG, SELFMAG)) {
		Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		rc = elf && elf_info_from_elf(elf, in, err) == 0 ? 1 : -1;
		if (!elf)
			sb_addf(err, "it is not a valid ELF file (%s)", elf_errmsg(-1));
		elf_end(elf);
	} else {
		sb_adds(err, "it is neither an ELF file nor a #! script");
	}
	close(fd);
	return rc;
}
