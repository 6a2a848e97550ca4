// tools/kvm-probe.S — the 64 KiB firmware runner.c boots to learn whether KVM
// really works: real mode -> protected mode -> long mode (paging on), then
// writes 1 to isa-debug-exit, so QEMU exits 3.  On hosts where /dev/kvm works
// for real mode but the vCPU hangs entering long mode (seen on our CI
// machines), the kernel would hang the same way; this catches it in ms.
// Rebuild the bytes in runner.c with:
//   as --64 -o p.o tools/kvm-probe.S && ld -Ttext=0xf0000 --oformat binary -o p.bin p.o
	.code16
	.globl _start
_start:
	cli
	lgdtl %cs:(gdt_desc - _start)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $pm32
	.code32
pm32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	movl $0x2003, 0x1000
	movl $0, 0x1004
	movl $0x3003, 0x2000
	movl $0, 0x2004
	movl $0x83, 0x3000
	movl $0, 0x3004
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $0x1000, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $0x18, $lm64
	.code64
lm64:
	mov $1, %al
	out %al, $0xf4
1:	hlt
	jmp 1b
	.p2align 3
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
	.quad 0x00af9a000000ffff
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt
	.org 0xfff0
	.code16
	ljmp $0xf000, $0
	.org 0x10000
