//go:build !purego

#include "textflag.h"

// Reduces the 16 lanes of Z0 to a scalar in X0 (upper vector state cleared).
#define REDUCE_Z0 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS        Y1, Y0, Y0; \
	VEXTRACTF128  $1, Y0, X1; \
	VADDPS        X1, X0, X0; \
	VPERMILPS     $0x4E, X0, X1; \
	VADDPS        X1, X0, X0; \
	VPERMILPS     $0xB1, X0, X1; \
	VADDSS        X1, X0, X0; \
	VZEROUPPER

// Reduces the 8 lanes of Y0 to a scalar in X0 (upper vector state cleared).
#define REDUCE_Y0 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VPERMILPS    $0x4E, X0, X1; \
	VADDPS       X1, X0, X0; \
	VPERMILPS    $0xB1, X0, X1; \
	VADDSS       X1, X0, X0; \
	VZEROUPPER

// func dotAVX512(a, b []float32) float32
// Requires len(b) >= len(a).
TEXT ·dotAVX512(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DI
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3

dot512_64:
	CMPQ        CX, $64
	JL          dot512_16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         dot512_64

dot512_16:
	CMPQ        CX, $16
	JL          dot512_tail
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         dot512_16

dot512_tail:
	TESTQ       CX, CX
	JZ          dot512_reduce
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

dot512_reduce:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE_Z0
	MOVSS X0, ret+48(FP)
	RET

// func l2sqAVX512(a, b []float32) float32
// Requires len(b) >= len(a).
TEXT ·l2sqAVX512(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DI
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3

l2512_64:
	CMPQ        CX, $64
	JL          l2512_16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VSUBPS      (DI), Z4, Z4
	VSUBPS      64(DI), Z5, Z5
	VSUBPS      128(DI), Z6, Z6
	VSUBPS      192(DI), Z7, Z7
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z6, Z2
	VFMADD231PS Z7, Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         l2512_64

l2512_16:
	CMPQ        CX, $16
	JL          l2512_tail
	VMOVUPS     (SI), Z4
	VSUBPS      (DI), Z4, Z4
	VFMADD231PS Z4, Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         l2512_16

l2512_tail:
	TESTQ       CX, CX
	JZ          l2512_reduce
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VSUBPS      Z5, Z4, Z4
	VFMADD231PS Z4, Z4, Z1

l2512_reduce:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	REDUCE_Z0
	MOVSS X0, ret+48(FP)
	RET

// func dotAVX2(a, b []float32) float32
// Requires len(b) >= len(a).
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dot2_32:
	CMPQ        CX, $32
	JL          dot2_8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         dot2_32

dot2_8:
	CMPQ        CX, $8
	JL          dot2_reduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         dot2_8

dot2_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VXORPS X2, X2, X2

dot2_tail:
	TESTQ       CX, CX
	JZ          dot2_done
	VMOVSS      (SI), X4
	VFMADD231SS (DI), X4, X2
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         dot2_tail

dot2_done:
	VADDPS Y2, Y0, Y0
	REDUCE_Y0
	MOVSS X0, ret+48(FP)
	RET

// func l2sqAVX2(a, b []float32) float32
// Requires len(b) >= len(a).
TEXT ·l2sqAVX2(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

l22_32:
	CMPQ        CX, $32
	JL          l22_8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VSUBPS      (DI), Y4, Y4
	VSUBPS      32(DI), Y5, Y5
	VSUBPS      64(DI), Y6, Y6
	VSUBPS      96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         l22_32

l22_8:
	CMPQ        CX, $8
	JL          l22_reduce
	VMOVUPS     (SI), Y4
	VSUBPS      (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         l22_8

l22_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VXORPS X2, X2, X2

l22_tail:
	TESTQ       CX, CX
	JZ          l22_done
	VMOVSS      (SI), X4
	VSUBSS      (DI), X4, X4
	VFMADD231SS X4, X4, X2
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         l22_tail

l22_done:
	VADDPS Y2, Y0, Y0
	REDUCE_Y0
	MOVSS X0, ret+48(FP)
	RET

// func dot4x2AVX512(q0, q1, q2, q3, r0, r1 *float32, n int, out *[8]float32, pf *float32)
// Scores rows r0 and r1 (n floats each) against queries q0..q3 (n floats each) and
// writes out = [r0·q0, r0·q1, r0·q2, r0·q3, r1·q0, r1·q1, r1·q2, r1·q3]. While it
// works it prefetches the 2n floats from pf into the cache.
TEXT ·dot4x2AVX512(SB), NOSPLIT, $0-72
	MOVQ   q0+0(FP), R8
	MOVQ   q1+8(FP), R9
	MOVQ   q2+16(FP), R10
	MOVQ   q3+24(FP), R11
	MOVQ   r0+32(FP), SI
	MOVQ   r1+40(FP), DI
	MOVQ   n+48(FP), CX
	MOVQ   out+56(FP), DX
	MOVQ   pf+64(FP), R12
	XORQ   AX, AX
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	VXORPS X4, X4, X4
	VXORPS X5, X5, X5
	VXORPS X6, X6, X6
	VXORPS X7, X7, X7

q4_16:
	CMPQ        CX, $16
	JL          q4_tail
	PREFETCHT0  (R12)(AX*2)
	PREFETCHT0  64(R12)(AX*2)
	VMOVUPS     (SI)(AX*1), Z8
	VMOVUPS     (DI)(AX*1), Z9
	VMOVUPS     (R8)(AX*1), Z10
	VMOVUPS     (R9)(AX*1), Z11
	VMOVUPS     (R10)(AX*1), Z12
	VMOVUPS     (R11)(AX*1), Z13
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z10, Z9, Z4
	VFMADD231PS Z11, Z8, Z1
	VFMADD231PS Z11, Z9, Z5
	VFMADD231PS Z12, Z8, Z2
	VFMADD231PS Z12, Z9, Z6
	VFMADD231PS Z13, Z8, Z3
	VFMADD231PS Z13, Z9, Z7
	ADDQ        $64, AX
	SUBQ        $16, CX
	JMP         q4_16

q4_tail:
	TESTQ       CX, CX
	JZ          q4_reduce
	MOVL        $1, BX
	SHLL        CX, BX
	DECL        BX
	KMOVW       BX, K1
	VMOVUPS.Z   (SI)(AX*1), K1, Z8
	VMOVUPS.Z   (DI)(AX*1), K1, Z9
	VMOVUPS.Z   (R8)(AX*1), K1, Z10
	VMOVUPS.Z   (R9)(AX*1), K1, Z11
	VMOVUPS.Z   (R10)(AX*1), K1, Z12
	VMOVUPS.Z   (R11)(AX*1), K1, Z13
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z10, Z9, Z4
	VFMADD231PS Z11, Z8, Z1
	VFMADD231PS Z11, Z9, Z5
	VFMADD231PS Z12, Z8, Z2
	VFMADD231PS Z12, Z9, Z6
	VFMADD231PS Z13, Z8, Z3
	VFMADD231PS Z13, Z9, Z7

q4_reduce:
	// Fold each accumulator to 8 lanes, then transpose-add four at a time so that
	// lane i of the result is the full sum of accumulator i.
	VEXTRACTF64X4 $1, Z0, Y8
	VADDPS        Y8, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y9
	VADDPS        Y9, Y1, Y1
	VEXTRACTF64X4 $1, Z2, Y10
	VADDPS        Y10, Y2, Y2
	VEXTRACTF64X4 $1, Z3, Y11
	VADDPS        Y11, Y3, Y3
	VEXTRACTF64X4 $1, Z4, Y12
	VADDPS        Y12, Y4, Y4
	VEXTRACTF64X4 $1, Z5, Y13
	VADDPS        Y13, Y5, Y5
	VEXTRACTF64X4 $1, Z6, Y14
	VADDPS        Y14, Y6, Y6
	VEXTRACTF64X4 $1, Z7, Y15
	VADDPS        Y15, Y7, Y7
	VHADDPS       Y1, Y0, Y0
	VHADDPS       Y3, Y2, Y2
	VHADDPS       Y2, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVUPS       X0, (DX)
	VHADDPS       Y5, Y4, Y4
	VHADDPS       Y7, Y6, Y6
	VHADDPS       Y6, Y4, Y4
	VEXTRACTF128  $1, Y4, X5
	VADDPS        X5, X4, X4
	VMOVUPS       X4, 16(DX)
	VZEROUPPER
	RET

// func dot4x1AVX512(q0, q1, q2, q3, r *float32, n int, out *[4]float32)
// Writes out = [r·q0, r·q1, r·q2, r·q3], each summed in exactly the order dotAVX512
// uses (four accumulators over 64-float blocks, then 16-float blocks into the first,
// the masked tail into the second, then the same reduction), so every score equals
// dotAVX512(qk, r) bit for bit. Accumulators live in Z16–Z31, which VZEROUPPER keeps.
TEXT ·dot4x1AVX512(SB), NOSPLIT, $0-56
	MOVQ   q0+0(FP), R8
	MOVQ   q1+8(FP), R9
	MOVQ   q2+16(FP), R10
	MOVQ   q3+24(FP), R11
	MOVQ   r+32(FP), SI
	MOVQ   n+40(FP), CX
	MOVQ   out+48(FP), DX
	XORQ   AX, AX
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31

q1_64:
	CMPQ        CX, $64
	JL          q1_16
	VMOVUPS     (SI)(AX*1), Z4
	VMOVUPS     64(SI)(AX*1), Z5
	VMOVUPS     128(SI)(AX*1), Z6
	VMOVUPS     192(SI)(AX*1), Z7
	VFMADD231PS (R8)(AX*1), Z4, Z16
	VFMADD231PS 64(R8)(AX*1), Z5, Z17
	VFMADD231PS 128(R8)(AX*1), Z6, Z18
	VFMADD231PS 192(R8)(AX*1), Z7, Z19
	VFMADD231PS (R9)(AX*1), Z4, Z20
	VFMADD231PS 64(R9)(AX*1), Z5, Z21
	VFMADD231PS 128(R9)(AX*1), Z6, Z22
	VFMADD231PS 192(R9)(AX*1), Z7, Z23
	VFMADD231PS (R10)(AX*1), Z4, Z24
	VFMADD231PS 64(R10)(AX*1), Z5, Z25
	VFMADD231PS 128(R10)(AX*1), Z6, Z26
	VFMADD231PS 192(R10)(AX*1), Z7, Z27
	VFMADD231PS (R11)(AX*1), Z4, Z28
	VFMADD231PS 64(R11)(AX*1), Z5, Z29
	VFMADD231PS 128(R11)(AX*1), Z6, Z30
	VFMADD231PS 192(R11)(AX*1), Z7, Z31
	ADDQ        $256, AX
	SUBQ        $64, CX
	JMP         q1_64

q1_16:
	CMPQ        CX, $16
	JL          q1_tail
	VMOVUPS     (SI)(AX*1), Z4
	VFMADD231PS (R8)(AX*1), Z4, Z16
	VFMADD231PS (R9)(AX*1), Z4, Z20
	VFMADD231PS (R10)(AX*1), Z4, Z24
	VFMADD231PS (R11)(AX*1), Z4, Z28
	ADDQ        $64, AX
	SUBQ        $16, CX
	JMP         q1_16

q1_tail:
	TESTQ     CX, CX
	JZ        q1_reduce
	MOVL      $1, BX
	SHLL      CX, BX
	DECL      BX
	KMOVW     BX, K1
	VMOVUPS.Z (SI)(AX*1), K1, Z4
	VMOVUPS.Z (R8)(AX*1), K1, Z8
	VMOVUPS.Z (R9)(AX*1), K1, Z9
	VMOVUPS.Z (R10)(AX*1), K1, Z10
	VMOVUPS.Z (R11)(AX*1), K1, Z11
	VFMADD231PS Z4, Z8, Z17
	VFMADD231PS Z4, Z9, Z21
	VFMADD231PS Z4, Z10, Z25
	VFMADD231PS Z4, Z11, Z29

q1_reduce:
	VADDPS Z17, Z16, Z0
	VADDPS Z19, Z18, Z2
	VADDPS Z2, Z0, Z0
	REDUCE_Z0
	MOVSS  X0, 0(DX)
	VADDPS Z21, Z20, Z0
	VADDPS Z23, Z22, Z2
	VADDPS Z2, Z0, Z0
	REDUCE_Z0
	MOVSS  X0, 4(DX)
	VADDPS Z25, Z24, Z0
	VADDPS Z27, Z26, Z2
	VADDPS Z2, Z0, Z0
	REDUCE_Z0
	MOVSS  X0, 8(DX)
	VADDPS Z29, Z28, Z0
	VADDPS Z31, Z30, Z2
	VADDPS Z2, Z0, Z0
	REDUCE_Z0
	MOVSS  X0, 12(DX)
	RET

// The GEMM micro-kernels score a tile of rows against a panel of queries packed k-major
// (panel[k*W+j] is query j's k-th value). For each k they load the panel's W values,
// broadcast each row's k-th value and fuse-multiply-add it into that row's accumulators,
// so every lane sums one (row, query) pair in k order. Row i starts at rows+i*stride
// (stride in bytes); the tile is written as row i's W scores at tile+128*i.

// One row of a 32-wide tile: broadcast the row value at addr, accumulate into a0, a1.
#define ROW32(addr, b, a0, a1) \
	VBROADCASTSS addr, b; \
	VFMADD231PS  Z0, b, a0; \
	VFMADD231PS  Z1, b, a1

// func gemm12x32AVX512(panel, rows *float32, stride, dim int, tile *[384]float32)
TEXT ·gemm12x32AVX512(SB), NOSPLIT, $0-40
	MOVQ panel+0(FP), R8
	MOVQ rows+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ dim+24(FP), CX
	MOVQ tile+32(FP), DX
	LEAQ (SI)(BX*2), DI
	ADDQ BX, DI
	LEAQ (DI)(BX*2), R9
	ADDQ BX, R9
	LEAQ (R9)(BX*2), R10
	ADDQ BX, R10
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	TESTQ  CX, CX
	JZ     g32_store

g32_loop:
	VMOVUPS (R8), Z0
	VMOVUPS 64(R8), Z1
	ROW32((SI), Z2, Z8, Z9)
	ROW32((SI)(BX*1), Z3, Z10, Z11)
	ROW32((SI)(BX*2), Z4, Z12, Z13)
	ROW32((DI), Z5, Z14, Z15)
	ROW32((DI)(BX*1), Z6, Z16, Z17)
	ROW32((DI)(BX*2), Z7, Z18, Z19)
	ROW32((R9), Z2, Z20, Z21)
	ROW32((R9)(BX*1), Z3, Z22, Z23)
	ROW32((R9)(BX*2), Z4, Z24, Z25)
	ROW32((R10), Z5, Z26, Z27)
	ROW32((R10)(BX*1), Z6, Z28, Z29)
	ROW32((R10)(BX*2), Z7, Z30, Z31)
	ADDQ    $128, R8
	ADDQ    $4, SI
	ADDQ    $4, DI
	ADDQ    $4, R9
	ADDQ    $4, R10
	DECQ    CX
	JNZ     g32_loop

g32_store:
	VMOVUPS Z8, 0(DX)
	VMOVUPS Z9, 64(DX)
	VMOVUPS Z10, 128(DX)
	VMOVUPS Z11, 192(DX)
	VMOVUPS Z12, 256(DX)
	VMOVUPS Z13, 320(DX)
	VMOVUPS Z14, 384(DX)
	VMOVUPS Z15, 448(DX)
	VMOVUPS Z16, 512(DX)
	VMOVUPS Z17, 576(DX)
	VMOVUPS Z18, 640(DX)
	VMOVUPS Z19, 704(DX)
	VMOVUPS Z20, 768(DX)
	VMOVUPS Z21, 832(DX)
	VMOVUPS Z22, 896(DX)
	VMOVUPS Z23, 960(DX)
	VMOVUPS Z24, 1024(DX)
	VMOVUPS Z25, 1088(DX)
	VMOVUPS Z26, 1152(DX)
	VMOVUPS Z27, 1216(DX)
	VMOVUPS Z28, 1280(DX)
	VMOVUPS Z29, 1344(DX)
	VMOVUPS Z30, 1408(DX)
	VMOVUPS Z31, 1472(DX)
	VZEROUPPER
	RET

// One row of a 16-wide tile.
#define ROW16(addr, b, a0) \
	VBROADCASTSS addr, b; \
	VFMADD231PS  Z0, b, a0

// func gemm12x16AVX512(panel, rows *float32, stride, dim int, tile *[384]float32)
TEXT ·gemm12x16AVX512(SB), NOSPLIT, $0-40
	MOVQ panel+0(FP), R8
	MOVQ rows+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ dim+24(FP), CX
	MOVQ tile+32(FP), DX
	LEAQ (SI)(BX*2), DI
	ADDQ BX, DI
	LEAQ (DI)(BX*2), R9
	ADDQ BX, R9
	LEAQ (R9)(BX*2), R10
	ADDQ BX, R10
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	TESTQ  CX, CX
	JZ     g16_store

g16_loop:
	VMOVUPS (R8), Z0
	ROW16((SI), Z2, Z8)
	ROW16((SI)(BX*1), Z3, Z9)
	ROW16((SI)(BX*2), Z4, Z10)
	ROW16((DI), Z5, Z11)
	ROW16((DI)(BX*1), Z6, Z12)
	ROW16((DI)(BX*2), Z7, Z13)
	ROW16((R9), Z2, Z14)
	ROW16((R9)(BX*1), Z3, Z15)
	ROW16((R9)(BX*2), Z4, Z16)
	ROW16((R10), Z5, Z17)
	ROW16((R10)(BX*1), Z6, Z18)
	ROW16((R10)(BX*2), Z7, Z19)
	ADDQ    $64, R8
	ADDQ    $4, SI
	ADDQ    $4, DI
	ADDQ    $4, R9
	ADDQ    $4, R10
	DECQ    CX
	JNZ     g16_loop

g16_store:
	VMOVUPS Z8, 0(DX)
	VMOVUPS Z9, 128(DX)
	VMOVUPS Z10, 256(DX)
	VMOVUPS Z11, 384(DX)
	VMOVUPS Z12, 512(DX)
	VMOVUPS Z13, 640(DX)
	VMOVUPS Z14, 768(DX)
	VMOVUPS Z15, 896(DX)
	VMOVUPS Z16, 1024(DX)
	VMOVUPS Z17, 1152(DX)
	VMOVUPS Z18, 1280(DX)
	VMOVUPS Z19, 1408(DX)
	VZEROUPPER
	RET

// One row of the AVX2 6×16 tile.
#define ROWY(addr, a0, a1) \
	VBROADCASTSS addr, Y2; \
	VFMADD231PS  Y0, Y2, a0; \
	VFMADD231PS  Y1, Y2, a1

// func gemm6x16AVX2(panel, rows *float32, stride, dim int, tile *[384]float32)
TEXT ·gemm6x16AVX2(SB), NOSPLIT, $0-40
	MOVQ   panel+0(FP), R8
	MOVQ   rows+8(FP), SI
	MOVQ   stride+16(FP), BX
	MOVQ   dim+24(FP), CX
	MOVQ   tile+32(FP), DX
	LEAQ   (SI)(BX*2), DI
	ADDQ   BX, DI
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	TESTQ  CX, CX
	JZ     gy_store

gy_loop:
	VMOVUPS (R8), Y0
	VMOVUPS 32(R8), Y1
	ROWY((SI), Y4, Y5)
	ROWY((SI)(BX*1), Y6, Y7)
	ROWY((SI)(BX*2), Y8, Y9)
	ROWY((DI), Y10, Y11)
	ROWY((DI)(BX*1), Y12, Y13)
	ROWY((DI)(BX*2), Y14, Y15)
	ADDQ    $64, R8
	ADDQ    $4, SI
	ADDQ    $4, DI
	DECQ    CX
	JNZ     gy_loop

gy_store:
	VMOVUPS Y4, 0(DX)
	VMOVUPS Y5, 32(DX)
	VMOVUPS Y6, 128(DX)
	VMOVUPS Y7, 160(DX)
	VMOVUPS Y8, 256(DX)
	VMOVUPS Y9, 288(DX)
	VMOVUPS Y10, 384(DX)
	VMOVUPS Y11, 416(DX)
	VMOVUPS Y12, 512(DX)
	VMOVUPS Y13, 544(DX)
	VMOVUPS Y14, 640(DX)
	VMOVUPS Y15, 672(DX)
	VZEROUPPER
	RET

// One query of the 32-row × 12-query int8 tile: the query's next four codes,
// broadcast, times the group's codes of rows 0–15 (Z0) and 16–31 (Z1), offset to
// unsigned, added to the query's sums of the two row halves.
#define QI8(addr, a0, a1) \
	VPDPBUSD.BCST addr, Z0, a0; \
	VPDPBUSD.BCST addr, Z1, a1

// Query j's epilogue: subtract its correction, store the exact sums to the integer
// tile, then convert, scale by the query's scale and by the row scales (Z2, Z3), and
// store the scores at the query's destination plus BX bytes.
#define EPI8(coff, poff, toff, toff2, a0, a1) \
	VPSUBD.BCST coff(R11), a0, a0; \
	VPSUBD.BCST coff(R11), a1, a1; \
	VMOVDQU32   a0, toff(DX); \
	VMOVDQU32   a1, toff2(DX); \
	VCVTDQ2PS   a0, a0; \
	VCVTDQ2PS   a1, a1; \
	VMULPS.BCST coff(R12), a0, a0; \
	VMULPS.BCST coff(R12), a1, a1; \
	VMULPS      Z2, a0, a0; \
	VMULPS      Z3, a1, a1; \
	MOVQ        poff(R13), AX; \
	VMOVUPS     a0, (AX)(BX*1); \
	VMOVUPS     a1, 64(AX)(BX*1)

// func int8x32x12VNNI(blocks int, codes *byte, groups int, qcodes *int8, qstride int, corr *int32, qscale, rscale *float32, dst *[12]*float32, itile *[384]int32)
//
// The block count, the row scale pointer and the destination offset are kept in the
// argument slots (blocks, rscale, off) between blocks.
TEXT ·int8x32x12VNNI(SB), NOSPLIT, $8-80
	MOVQ codes+8(FP), R8
	MOVQ $0, off-8(SP)

i8_block:
	MOVQ qcodes+24(FP), SI
	MOVQ qstride+32(FP), BX
	MOVQ groups+16(FP), CX
	LEAQ (SI)(BX*2), DI
	ADDQ BX, DI
	LEAQ (DI)(BX*2), R9
	ADDQ BX, R9
	LEAQ (R9)(BX*2), R10
	ADDQ BX, R10
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	TESTQ  CX, CX
	JZ     i8_store

i8_loop:
	VMOVDQU32 (R8), Z0
	VMOVDQU32 64(R8), Z1
	QI8((SI), Z8, Z9)
	QI8((SI)(BX*1), Z10, Z11)
	QI8((SI)(BX*2), Z12, Z13)
	QI8((DI), Z14, Z15)
	QI8((DI)(BX*1), Z16, Z17)
	QI8((DI)(BX*2), Z18, Z19)
	QI8((R9), Z20, Z21)
	QI8((R9)(BX*1), Z22, Z23)
	QI8((R9)(BX*2), Z24, Z25)
	QI8((R10), Z26, Z27)
	QI8((R10)(BX*1), Z28, Z29)
	QI8((R10)(BX*2), Z30, Z31)
	ADDQ $128, R8
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ $4, R9
	ADDQ $4, R10
	DECQ CX
	JNZ  i8_loop

i8_store:
	MOVQ    corr+40(FP), R11
	MOVQ    qscale+48(FP), R12
	MOVQ    rscale+56(FP), CX
	MOVQ    dst+64(FP), R13
	MOVQ    itile+72(FP), DX
	MOVQ    off-8(SP), BX
	VMOVUPS (CX), Z2
	VMOVUPS 64(CX), Z3
	EPI8(0, 0, 0, 64, Z8, Z9)
	EPI8(4, 8, 128, 192, Z10, Z11)
	EPI8(8, 16, 256, 320, Z12, Z13)
	EPI8(12, 24, 384, 448, Z14, Z15)
	EPI8(16, 32, 512, 576, Z16, Z17)
	EPI8(20, 40, 640, 704, Z18, Z19)
	EPI8(24, 48, 768, 832, Z20, Z21)
	EPI8(28, 56, 896, 960, Z22, Z23)
	EPI8(32, 64, 1024, 1088, Z24, Z25)
	EPI8(36, 72, 1152, 1216, Z26, Z27)
	EPI8(40, 80, 1280, 1344, Z28, Z29)
	EPI8(44, 88, 1408, 1472, Z30, Z31)
	ADDQ $128, CX
	MOVQ CX, rscale+56(FP)
	ADDQ $128, BX
	MOVQ BX, off-8(SP)
	DECQ blocks+0(FP)
	JNZ  i8_block
	VZEROUPPER
	RET

// Lane indices 0–15 for atLeastAVX512.
DATA atLeastLanes<>+0(SB)/4, $0
DATA atLeastLanes<>+4(SB)/4, $1
DATA atLeastLanes<>+8(SB)/4, $2
DATA atLeastLanes<>+12(SB)/4, $3
DATA atLeastLanes<>+16(SB)/4, $4
DATA atLeastLanes<>+20(SB)/4, $5
DATA atLeastLanes<>+24(SB)/4, $6
DATA atLeastLanes<>+28(SB)/4, $7
DATA atLeastLanes<>+32(SB)/4, $8
DATA atLeastLanes<>+36(SB)/4, $9
DATA atLeastLanes<>+40(SB)/4, $10
DATA atLeastLanes<>+44(SB)/4, $11
DATA atLeastLanes<>+48(SB)/4, $12
DATA atLeastLanes<>+52(SB)/4, $13
DATA atLeastLanes<>+56(SB)/4, $14
DATA atLeastLanes<>+60(SB)/4, $15
GLOBL atLeastLanes<>(SB), RODATA|NOPTR, $64

// func atLeastAVX512(x *float32, n int, thr float32, dst *uint32) int
//
// Sixteen scores per step: compare with thr (thr less or equal, ordered: NaN is never
// selected) and, when any lane is selected, compress the selected lanes' indices into
// dst.
TEXT ·atLeastAVX512(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS thr+16(FP), Z0
	MOVQ         dst+24(FP), DI
	MOVQ         DI, R8
	VMOVDQU32    atLeastLanes<>(SB), Z1
	MOVL         $16, AX
	VPBROADCASTD AX, Z2
	TESTQ        CX, CX
	JZ           al_done

al_loop:
	VCMPPS      $0x12, (SI), Z0, K1
	KORTESTW    K1, K1
	JZ          al_next
	VPCOMPRESSD Z1, K1, (DI)
	KMOVW       K1, AX
	POPCNTL     AX, AX
	LEAQ        (DI)(AX*4), DI

al_next:
	VPADDD Z2, Z1, Z1
	ADDQ   $64, SI
	SUBQ   $16, CX
	JNZ    al_loop

al_done:
	SUBQ       R8, DI
	SHRQ       $2, DI
	MOVQ       DI, ret+32(FP)
	VZEROUPPER
	RET

// One query of the 16-row × 4-query AVX2 int8 tile: the query's four codes, broadcast,
// given the signs of the rows' codes (Y8, Y9), times the rows' absolute codes (Y10,
// Y11): VPMADDUBSW's pairs stay within ±2·127² (no saturation), VPMADDWD adds them to
// exact int32 sums of four products.
#define QI8AVX2(addr, a0, a1) \
	VPBROADCASTD addr, Y12; \
	VPSIGNB      Y8, Y12, Y13; \
	VPMADDUBSW   Y13, Y10, Y13; \
	VPMADDWD     Y15, Y13, Y13; \
	VPADDD       Y13, a0, a0; \
	VPSIGNB      Y9, Y12, Y13; \
	VPMADDUBSW   Y13, Y11, Y13; \
	VPMADDWD     Y15, Y13, Y13; \
	VPADDD       Y13, a1, a1

// Query j's epilogue: store the sums, convert, scale by the query's scale and the row
// scales (Y8, Y9), store through the query's destination pointer.
#define EPI8AVX2(soff, poff, toff, toff2, a0, a1) \
	VMOVDQU      a0, toff(DX); \
	VMOVDQU      a1, toff2(DX); \
	VCVTDQ2PS    a0, a0; \
	VCVTDQ2PS    a1, a1; \
	VBROADCASTSS soff(R11), Y12; \
	VMULPS       Y12, a0, a0; \
	VMULPS       Y12, a1, a1; \
	VMULPS       Y8, a0, a0; \
	VMULPS       Y9, a1, a1; \
	MOVQ         poff(R13), AX; \
	VMOVUPS      a0, (AX); \
	VMOVUPS      a1, 32(AX)

// func int8x16x4AVX2(rows *byte, groups int, qcodes *int8, qstride int, qscale, rscale *float32, dst *[4]*float32, itile *int32)
//
// Scores 16 rows of a block (rows points at their first group; groups are 128 bytes
// apart) against 4 queries. The row codes are stored offset by 128; XOR with 0x80 makes
// them signed again. The sums are exact without a correction.
TEXT ·int8x16x4AVX2(SB), NOSPLIT, $0-64
	MOVQ         rows+0(FP), R8
	MOVQ         groups+8(FP), CX
	MOVQ         qcodes+16(FP), SI
	MOVQ         qstride+24(FP), BX
	LEAQ         (SI)(BX*2), DI
	MOVL         $0x80808080, AX
	MOVD         AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x00010001, AX
	MOVD         AX, X15
	VPBROADCASTD X15, Y15
	VPXOR        Y0, Y0, Y0
	VPXOR        Y1, Y1, Y1
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3
	VPXOR        Y4, Y4, Y4
	VPXOR        Y5, Y5, Y5
	VPXOR        Y6, Y6, Y6
	VPXOR        Y7, Y7, Y7
	TESTQ        CX, CX
	JZ           i8a_store

i8a_loop:
	VPXOR  (R8), Y14, Y8
	VPXOR  32(R8), Y14, Y9
	VPABSB Y8, Y10
	VPABSB Y9, Y11
	QI8AVX2((SI), Y0, Y1)
	QI8AVX2((SI)(BX*1), Y2, Y3)
	QI8AVX2((DI), Y4, Y5)
	QI8AVX2((DI)(BX*1), Y6, Y7)
	ADDQ   $128, R8
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JNZ    i8a_loop

i8a_store:
	MOVQ    qscale+32(FP), R11
	MOVQ    rscale+40(FP), R12
	MOVQ    dst+48(FP), R13
	MOVQ    itile+56(FP), DX
	VMOVUPS (R12), Y8
	VMOVUPS 32(R12), Y9
	EPI8AVX2(0, 0, 0, 32, Y0, Y1)
	EPI8AVX2(4, 8, 128, 160, Y2, Y3)
	EPI8AVX2(8, 16, 256, 288, Y4, Y5)
	EPI8AVX2(12, 24, 384, 416, Y6, Y7)
	VZEROUPPER
	RET

// Reduces the 8 int32 lanes of Y0 to AX (upper vector state cleared).
#define REDUCE_I32_Y0 \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDD       X1, X0, X0; \
	VPSHUFD      $0x4E, X0, X1; \
	VPADDD       X1, X0, X0; \
	VPSHUFD      $0xB1, X0, X1; \
	VPADDD       X1, X0, X0; \
	VMOVD        X0, AX; \
	VZEROUPPER

// func dotU8I8VNNI(r *byte, q *int8, n int) int32
TEXT ·dotU8I8VNNI(SB), NOSPLIT, $0-28
	MOVQ   r+0(FP), SI
	MOVQ   q+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

du8_128:
	CMPQ     CX, $128
	JL       du8_64
	VMOVDQU8 (SI), Z2
	VMOVDQU8 64(SI), Z3
	VPDPBUSD (DI), Z2, Z0
	VPDPBUSD 64(DI), Z3, Z1
	ADDQ     $128, SI
	ADDQ     $128, DI
	SUBQ     $128, CX
	JMP      du8_128

du8_64:
	CMPQ     CX, $64
	JL       du8_tail
	VMOVDQU8 (SI), Z2
	VPDPBUSD (DI), Z2, Z0
	ADDQ     $64, SI
	ADDQ     $64, DI
	SUBQ     $64, CX

du8_tail:
	TESTQ      CX, CX
	JZ         du8_reduce
	MOVQ       $1, AX
	SHLQ       CX, AX
	DECQ       AX
	KMOVQ      AX, K1
	VMOVDQU8.Z (SI), K1, Z2
	VMOVDQU8.Z (DI), K1, Z3
	VPDPBUSD   Z3, Z2, Z1

du8_reduce:
	VPADDD        Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	REDUCE_I32_Y0
	MOVL          AX, ret+24(FP)
	RET

// func dotU8I8AVX2(r *byte, q *int8, n int) int32
TEXT ·dotU8I8AVX2(SB), NOSPLIT, $0-28
	MOVQ  r+0(FP), SI
	MOVQ  q+8(FP), DI
	MOVQ  n+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1

da8_32:
	CMPQ      CX, $32
	JL        da8_16
	VPMOVZXBW (SI), Y2
	VPMOVSXBW (DI), Y3
	VPMADDWD  Y3, Y2, Y2
	VPADDD    Y2, Y0, Y0
	VPMOVZXBW 16(SI), Y4
	VPMOVSXBW 16(DI), Y5
	VPMADDWD  Y5, Y4, Y4
	VPADDD    Y4, Y1, Y1
	ADDQ      $32, SI
	ADDQ      $32, DI
	SUBQ      $32, CX
	JMP       da8_32

da8_16:
	CMPQ      CX, $16
	JL        da8_reduce
	VPMOVZXBW (SI), Y2
	VPMOVSXBW (DI), Y3
	VPMADDWD  Y3, Y2, Y2
	VPADDD    Y2, Y0, Y0

da8_reduce:
	VPADDD Y1, Y0, Y0
	REDUCE_I32_Y0
	MOVL   AX, ret+24(FP)
	RET

// func dotU8I8VNNIRows(rows **byte, n int, q *int8, dim int, out *int32)
//
// out[i] = Σ rows[i][k]·q[k] over dim bytes, for i < n.
TEXT ·dotU8I8VNNIRows(SB), NOSPLIT, $0-40
	MOVQ  rows+0(FP), R8
	MOVQ  n+8(FP), R9
	MOVQ  q+16(FP), R10
	MOVQ  dim+24(FP), R11
	MOVQ  out+32(FP), R12
	TESTQ R9, R9
	JZ    dr_done
	MOVQ  R11, CX
	ANDQ  $63, CX
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVQ AX, K1

dr_score:
	MOVQ   (R8), SI
	MOVQ   R10, DI
	MOVQ   R11, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

dr_128:
	CMPQ     CX, $128
	JL       dr_64
	VMOVDQU8 (SI), Z2
	VMOVDQU8 64(SI), Z3
	VPDPBUSD (DI), Z2, Z0
	VPDPBUSD 64(DI), Z3, Z1
	ADDQ     $128, SI
	ADDQ     $128, DI
	SUBQ     $128, CX
	JMP      dr_128

dr_64:
	CMPQ     CX, $64
	JL       dr_tail
	VMOVDQU8 (SI), Z2
	VPDPBUSD (DI), Z2, Z0
	ADDQ     $64, SI
	ADDQ     $64, DI
	SUBQ     $64, CX

dr_tail:
	TESTQ      CX, CX
	JZ         dr_reduce
	VMOVDQU8.Z (SI), K1, Z2
	VMOVDQU8.Z (DI), K1, Z3
	VPDPBUSD   Z3, Z2, Z1

dr_reduce:
	VPADDD        Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4E, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xB1, X0, X1
	VPADDD        X1, X0, X0
	VMOVD         X0, (R12)
	ADDQ          $4, R12
	ADDQ          $8, R8
	DECQ          R9
	JNZ           dr_score

dr_done:
	VZEROUPPER
	RET

// func Prefetch(p *uint32)
TEXT ·Prefetch(SB), NOSPLIT, $0-8
	MOVQ       p+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func maxAbsBitsAVX512(x *float32, n int) uint32
// The largest |x[i]| as float32 bits (sign cleared), n a positive multiple of 16.
TEXT ·maxAbsBitsAVX512(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z1
	VPXORD       Z0, Z0, Z0

mab_loop:
	VPANDD  (SI), Z1, Z2
	VPMAXUD Z2, Z0, Z0
	ADDQ    $64, SI
	SUBQ    $16, CX
	JNZ     mab_loop
	VEXTRACTI64X4 $1, Z0, Y2
	VPMAXUD       Y2, Y0, Y0
	VEXTRACTI128  $1, Y0, X2
	VPMAXUD       X2, X0, X0
	VPSHUFD       $0x4E, X0, X2
	VPMAXUD       X2, X0, X0
	VPSHUFD       $0xB1, X0, X2
	VPMAXUD       X2, X0, X0
	VMOVD         X0, AX
	MOVL          AX, ret+16(FP)
	VZEROUPPER
	RET

// func quantizeAVX512(x *float32, n int, inv float32, s64 float64, codes *int8) (sum int32, nn, ee float64)
// quantize's loop over n floats (a positive multiple of 16): code c = int32(float32(x·inv)
// + 128.5) − 128 (truncated, as the Go conversion), Σ c, Σ x² and Σ (x − s64·c)² in
// float64. x² and x − s64·c are exact in float64, so only the sums' order and the
// rounding of the last one differ from the portable loop.
TEXT ·quantizeAVX512(SB), NOSPLIT, $0-64
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS inv+16(FP), Z3
	VBROADCASTSD s64+24(FP), Z12
	MOVQ         codes+32(FP), DI
	MOVL         $0x43008000, AX  // 128.5
	VPBROADCASTD AX, Z5
	MOVL         $128, AX
	VPBROADCASTD AX, Z6
	VPXORD       Z8, Z8, Z8       // Σ c, 16 lanes
	VPXORD       Z11, Z11, Z11    // Σ x², low halves
	VPXORD       Z16, Z16, Z16    // Σ x², high halves
	VPXORD       Z13, Z13, Z13    // Σ e², low halves
	VPXORD       Z17, Z17, Z17    // Σ e², high halves

q_loop:
	VMOVUPS       (SI), Z2
	VMULPS        Z3, Z2, Z4
	VADDPS        Z5, Z4, Z4
	VCVTTPS2DQ    Z4, Z4
	VPSUBD        Z6, Z4, Z4
	VPMOVDB       Z4, X7
	VMOVDQU       X7, (DI)
	VPADDD        Z4, Z8, Z8
	VCVTPS2PD     Y2, Z9
	VCVTDQ2PD     Y4, Z10
	VFMADD231PD   Z9, Z9, Z11
	VFNMADD231PD  Z10, Z12, Z9
	VFMADD231PD   Z9, Z9, Z13
	VEXTRACTF64X4 $1, Z2, Y14
	VEXTRACTI64X4 $1, Z4, Y15
	VCVTPS2PD     Y14, Z14
	VCVTDQ2PD     Y15, Z15
	VFMADD231PD   Z14, Z14, Z16
	VFNMADD231PD  Z15, Z12, Z14
	VFMADD231PD   Z14, Z14, Z17
	ADDQ          $64, SI
	ADDQ          $16, DI
	SUBQ          $16, CX
	JNZ           q_loop

	// Σ c
	VEXTRACTI64X4 $1, Z8, Y2
	VPADDD        Y2, Y8, Y8
	VEXTRACTI128  $1, Y8, X2
	VPADDD        X2, X8, X8
	VPSHUFD       $0x4E, X8, X2
	VPADDD        X2, X8, X8
	VPSHUFD       $0xB1, X8, X2
	VPADDD        X2, X8, X8
	VMOVD         X8, AX
	MOVL          AX, sum+40(FP)

	// Σ x²
	VADDPD        Z16, Z11, Z11
	VEXTRACTF64X4 $1, Z11, Y2
	VADDPD        Y2, Y11, Y11
	VEXTRACTF128  $1, Y11, X2
	VADDPD        X2, X11, X11
	VPERMILPD     $1, X11, X2
	VADDSD        X2, X11, X11
	VMOVSD        X11, nn+48(FP)

	// Σ e²
	VADDPD        Z17, Z13, Z13
	VEXTRACTF64X4 $1, Z13, Y2
	VADDPD        Y2, Y13, Y13
	VEXTRACTF128  $1, Y13, X2
	VADDPD        X2, X13, X13
	VPERMILPD     $1, X13, X2
	VADDSD        X2, X13, X13
	VMOVSD        X13, ee+56(FP)
	VZEROUPPER
	RET

// func dotF32RowsAVX512(rows *unsafe.Pointer, n int, q *float32, dim int, out *float32)
//
// out[i] = Σ rows[i][k]·q[k] over dim floats, for i < n, each bit for bit what
// dotAVX512(q, rows[i]) returns (the same four accumulators, the same order). While it
// scores a row it asks for the next row's cache lines (PREFETCHT0), one per 16 floats,
// at the offset it is reading, so the next row's loads overlap this row's arithmetic.
TEXT ·dotF32RowsAVX512(SB), NOSPLIT, $0-40
	MOVQ  rows+0(FP), R8
	MOVQ  n+8(FP), R9
	MOVQ  q+16(FP), R10
	MOVQ  dim+24(FP), R11
	MOVQ  out+32(FP), R12
	TESTQ R9, R9
	JZ    fr_done
	MOVQ  R11, CX
	ANDQ  $15, CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	MOVQ  R8, SI
	MOVQ  R9, CX

fr_first:
	MOVQ       (SI), DX
	PREFETCHT0 (DX)
	ADDQ       $8, SI
	DECQ       CX
	JNZ        fr_first

fr_row:
	MOVQ   (R8), SI
	MOVQ   SI, DX
	CMPQ   R9, $1
	JE     fr_start
	MOVQ   8(R8), DX

fr_start:
	MOVQ   R10, DI
	MOVQ   R11, CX
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3

fr_64:
	CMPQ        CX, $64
	JL          fr_16
	PREFETCHT0  (DX)
	PREFETCHT0  64(DX)
	PREFETCHT0  128(DX)
	PREFETCHT0  192(DX)
	VMOVUPS     (DI), Z4
	VMOVUPS     64(DI), Z5
	VMOVUPS     128(DI), Z6
	VMOVUPS     192(DI), Z7
	VFMADD231PS (SI), Z4, Z0
	VFMADD231PS 64(SI), Z5, Z1
	VFMADD231PS 128(SI), Z6, Z2
	VFMADD231PS 192(SI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	ADDQ        $256, DX
	SUBQ        $64, CX
	JMP         fr_64

fr_16:
	CMPQ        CX, $16
	JL          fr_tail
	PREFETCHT0  (DX)
	VMOVUPS     (DI), Z4
	VFMADD231PS (SI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, DX
	SUBQ        $16, CX
	JMP         fr_16

fr_tail:
	TESTQ       CX, CX
	JZ          fr_reduce
	VMOVUPS.Z   (DI), K1, Z4
	VMOVUPS.Z   (SI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

fr_reduce:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VPERMILPS     $0x4E, X0, X1
	VADDPS        X1, X0, X0
	VPERMILPS     $0xB1, X0, X1
	VADDSS        X1, X0, X0
	MOVSS         X0, (R12)
	ADDQ          $4, R12
	ADDQ          $8, R8
	DECQ          R9
	JNZ           fr_row

fr_done:
	VZEROUPPER
	RET

// AMX instructions, by their encodings (the Go assembler has no AMX mnemonics), with
// the registers fixed as named.
#define LDTILECFG_AX BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x00
#define TILERELEASE BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0
#define TILEZERO_T0 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc0
#define TILEZERO_T1 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc8
// tmm2 ← [R9 + R10], tmm3 ← [R11 + R12], tmm4 ← [R13 + R12]
#define TILELOADD_T2 BYTE $0xc4; BYTE $0x82; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x11
#define TILELOADD_T3 BYTE $0xc4; BYTE $0x82; BYTE $0x7b; BYTE $0x4b; BYTE $0x1c; BYTE $0x23
#define TILELOADD_T4 BYTE $0xc4; BYTE $0x82; BYTE $0x7b; BYTE $0x4b; BYTE $0x64; BYTE $0x25; BYTE $0x00
// tmm5 ← [R9 + R10], tmm6 ← [R11 + R12], tmm7 ← [R13 + R12]
#define TILELOADD_T5 BYTE $0xc4; BYTE $0x82; BYTE $0x7b; BYTE $0x4b; BYTE $0x2c; BYTE $0x11
#define TILELOADD_T6 BYTE $0xc4; BYTE $0x82; BYTE $0x7b; BYTE $0x4b; BYTE $0x34; BYTE $0x23
#define TILELOADD_T7 BYTE $0xc4; BYTE $0x82; BYTE $0x7b; BYTE $0x4b; BYTE $0x7c; BYTE $0x25; BYTE $0x00
// tmm0 += tmm2·tmm3, tmm1 += tmm2·tmm4, tmm0 += tmm5·tmm6, tmm1 += tmm5·tmm7 (signed × unsigned bytes)
#define TDPBSUD_T0_T2_T3 BYTE $0xc4; BYTE $0xe2; BYTE $0x62; BYTE $0x5e; BYTE $0xc2
#define TDPBSUD_T1_T2_T4 BYTE $0xc4; BYTE $0xe2; BYTE $0x5a; BYTE $0x5e; BYTE $0xca
#define TDPBSUD_T0_T5_T6 BYTE $0xc4; BYTE $0xe2; BYTE $0x4a; BYTE $0x5e; BYTE $0xc5
#define TDPBSUD_T1_T5_T7 BYTE $0xc4; BYTE $0xe2; BYTE $0x42; BYTE $0x5e; BYTE $0xcd
// [DI + R12] ← tmm0, [DX + R12] ← tmm1
#define TILESTORED_T0 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x27
#define TILESTORED_T1 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x0c; BYTE $0x22

// AMX_SUMS is one block's sums, as both AMX kernels take them: the block's 32 rows of
// codes at SI against the queries' codes at R9 (stride R10, CX groups of 64 bytes), 16
// groups of 64 bytes per tile load and the rest in one partial tile, stored as two tiles
// of 16 rows × 16 int32 at DI and DX (stride R12); SI moves past the block. The labels
// are the caller's (a function's labels are its own).
#define AMX_SUMS(chunk, tail, store) \
	TILEZERO_T0; \
	TILEZERO_T1; \
	MOVQ SI, R11; \
chunk: \
	CMPQ CX, $16; \
	JL   tail; \
	LEAQ 64(R11), R13; \
	TILELOADD_T2; \
	TILELOADD_T3; \
	TILELOADD_T4; \
	TDPBSUD_T0_T2_T3; \
	TDPBSUD_T1_T2_T4; \
	ADDQ $64, R9; \
	ADDQ $2048, R11; \
	SUBQ $16, CX; \
	JMP  chunk; \
tail: \
	TESTQ CX, CX; \
	JZ    store; \
	LEAQ  64(R11), R13; \
	TILELOADD_T5; \
	TILELOADD_T6; \
	TILELOADD_T7; \
	TDPBSUD_T0_T5_T6; \
	TDPBSUD_T1_T5_T7; \
	SHLQ  $7, CX; \
	ADDQ  CX, R11; \
store: \
	TILESTORED_T0; \
	TILESTORED_T1; \
	MOVQ R11, SI;

// func int8x32x16AMX(blocks int, codes *byte, groups int, qcodes *int8, qstride int, corr *int32, qscale, rscale *float32, dst *[16]*float32, itile *[16*32]int32, cfg *[64]byte)
//
// Registers: SI the block's codes, R8 blocks left, BX the block's offset in bytes into
// rscale and each dst (32 floats a block), DI and DX itile and itile+64 (the two sum
// tiles, rows of 128 bytes), R12 128 (the stride of both), R9 and R10 the queries'
// codes and qstride, R11 and R13 the halves' current groups, CX groups left.
TEXT ·int8x32x16AMX(SB), NOSPLIT, $0-88
	MOVQ blocks+0(FP), R8
	TESTQ R8, R8
	JZ    ax_ret
	MOVQ cfg+80(FP), AX
	LDTILECFG_AX
	MOVQ codes+8(FP), SI
	MOVQ itile+72(FP), DI
	LEAQ 64(DI), DX
	MOVQ $128, R12
	XORQ BX, BX

ax_block:
	MOVQ qcodes+24(FP), R9
	MOVQ qstride+32(FP), R10
	MOVQ groups+16(FP), CX
	AMX_SUMS(ax_chunk, ax_tail, ax_store)

	// The scores: row j of the sums is query j's, 32 int32 at DI + 128·j.
	MOVQ corr+40(FP), R9
	MOVQ qscale+48(FP), R10
	MOVQ dst+64(FP), R13
	MOVQ rscale+56(FP), R11
	ADDQ BX, R11
	MOVQ DI, CX

ax_query:
	VPBROADCASTD (R9), Z2
	VMOVDQU32    (CX), Z0
	VMOVDQU32    64(CX), Z1
	VPSUBD       Z2, Z0, Z0
	VPSUBD       Z2, Z1, Z1
	VMOVDQU32    Z0, (CX)
	VMOVDQU32    Z1, 64(CX)
	VCVTDQ2PS    Z0, Z0
	VCVTDQ2PS    Z1, Z1
	VBROADCASTSS (R10), Z3
	VMULPS       Z3, Z0, Z0
	VMULPS       Z3, Z1, Z1
	VMULPS       (R11), Z0, Z0
	VMULPS       64(R11), Z1, Z1
	MOVQ         (R13), AX
	VMOVUPS      Z0, (AX)(BX*1)
	VMOVUPS      Z1, 64(AX)(BX*1)
	ADDQ         $4, R9
	ADDQ         $4, R10
	ADDQ         $8, R13
	ADDQ         $128, CX
	LEAQ         2048(DI), AX
	CMPQ         CX, AX
	JL           ax_query

	ADDQ $128, BX
	DECQ R8
	JNZ  ax_block
	TILERELEASE
	VZEROUPPER

ax_ret:
	RET

// func int8x32x16AMXAbove(blocks int, codes *byte, groups int, qcodes *int8, qstride int, corr *int32, qscale, rscale, thr *float32, sc *[16]*float32, idx *[16]*uint32, cnt *[16]int, itile *[16*32]int32, cfg *[64]byte)
//
// int8x32x16AMX, keeping of query j's scores only those at least thr[j]: it appends
// them to sc[j] and their rows (b·32 + i) to idx[j] from cnt[j] on, in row order, and
// advances cnt[j]; itile holds the raw sums. Registers as int8x32x16AMX's; in the
// scores' loop R12 walks thr, R13 is 8·j, DX query j's count.
TEXT ·int8x32x16AMXAbove(SB), NOSPLIT, $0-112
	MOVQ blocks+0(FP), R8
	TESTQ R8, R8
	JZ    av_ret
	MOVQ cfg+104(FP), AX
	LDTILECFG_AX
	MOVQ codes+8(FP), SI
	MOVQ itile+96(FP), DI
	LEAQ 64(DI), DX
	MOVQ $128, R12
	XORQ BX, BX

av_block:
	MOVQ qcodes+24(FP), R9
	MOVQ qstride+32(FP), R10
	MOVQ groups+16(FP), CX
	AMX_SUMS(av_chunk, av_tail, av_store)

	// The scores as int8x32x16AMX computes them, kept only where at least the
	// query's threshold: compressed to sc[j] and idx[j] from cnt[j] on (rows as
	// b·32 + lane, Z5 and Z7 for the two halves).
	MOVQ BX, AX
	SHRQ $2, AX
	VPBROADCASTD AX, Z6
	VMOVDQU32    atLeastLanes<>(SB), Z5
	VPADDD       Z6, Z5, Z5
	MOVL         $16, AX
	VPBROADCASTD AX, Z6
	VPADDD       Z6, Z5, Z7
	MOVQ corr+40(FP), R9
	MOVQ qscale+48(FP), R10
	MOVQ rscale+56(FP), R11
	ADDQ BX, R11
	MOVQ thr+64(FP), R12
	XORQ R13, R13
	MOVQ DI, CX

av_query:
	VPBROADCASTD (R9), Z2
	VMOVDQU32    (CX), Z0
	VMOVDQU32    64(CX), Z1
	VPSUBD       Z2, Z0, Z0
	VPSUBD       Z2, Z1, Z1
	VCVTDQ2PS    Z0, Z0
	VCVTDQ2PS    Z1, Z1
	VBROADCASTSS (R10), Z3
	VMULPS       Z3, Z0, Z0
	VMULPS       Z3, Z1, Z1
	VMULPS       (R11), Z0, Z0
	VMULPS       64(R11), Z1, Z1
	VBROADCASTSS (R12), Z4
	VCMPPS       $0x12, Z0, Z4, K2
	VCMPPS       $0x12, Z1, Z4, K3
	KORTESTW     K2, K3
	JZ           av_next
	MOVQ         cnt+88(FP), AX
	MOVQ         (AX)(R13*1), DX
	MOVQ         sc+72(FP), AX
	MOVQ         (AX)(R13*1), AX
	VCOMPRESSPS  Z0, K2, (AX)(DX*4)
	MOVQ         idx+80(FP), AX
	MOVQ         (AX)(R13*1), AX
	VPCOMPRESSD  Z5, K2, (AX)(DX*4)
	KMOVW        K2, AX
	POPCNTL      AX, AX
	ADDQ         AX, DX
	MOVQ         sc+72(FP), AX
	MOVQ         (AX)(R13*1), AX
	VCOMPRESSPS  Z1, K3, (AX)(DX*4)
	MOVQ         idx+80(FP), AX
	MOVQ         (AX)(R13*1), AX
	VPCOMPRESSD  Z7, K3, (AX)(DX*4)
	KMOVW        K3, AX
	POPCNTL      AX, AX
	ADDQ         AX, DX
	MOVQ         cnt+88(FP), AX
	MOVQ         DX, (AX)(R13*1)

av_next:
	ADDQ         $4, R9
	ADDQ         $4, R10
	ADDQ         $4, R12
	ADDQ         $8, R13
	ADDQ         $128, CX
	LEAQ         2048(DI), AX
	CMPQ         CX, AX
	JL           av_query

	LEAQ 64(DI), DX
	MOVQ $128, R12
	ADDQ $128, BX
	DECQ R8
	JNZ  av_block
	TILERELEASE
	VZEROUPPER

av_ret:
	RET

