/* Entry point of abitest. exec leaves argc in a0 and argv in a1, exactly
   the arguments main takes, and the exit stub takes main's return value
   from a0. */
	.section .text.start
	.globl _start
_start:
	call main
	call exit
	/* exit does not return; spin rather than run into whatever follows. */
1:	j 1b
