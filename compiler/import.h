/* import.h — `rdc import LIST`: a gen_init_cpio list becomes a manifest. */
#ifndef RDC_IMPORT_H
#define RDC_IMPORT_H
int cmd_import(int argc, char **argv);
#endif
