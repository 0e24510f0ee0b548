;; kdq's matrix products for convolutions on the wasm backend (src/backend/wasm-kernels/conv-gemm.ts):
;; a convolution's forward pass, input gradient and filter gradient are each a product of an
;; im2col matrix (one row per output pixel, one column per filter tap and input channel) with the
;; filter or the output gradient. The im2col rows are written a block at a time into scratch that
;; stays in cache, then multiplied here. Every pointer is a byte offset into the backend's memory;
;; `ld*` arguments are row strides in bytes. Built like kernels.wat (scripts/build-simd.ts).
(module
  (import "env" "memory" (memory 1 65536))

  ;; Copies `bytes` (a multiple of 4) from src to dst, 16 at a time then 4 at a time.
  (func $copy (param $d i32) (param $s i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $d) (i32.and (local.get $bytes) (i32.const -16))))
    (block $vdone (loop $vl
      (br_if $vdone (i32.ge_u (local.get $d) (local.get $end)))
      (v128.store (local.get $d) (v128.load (local.get $s)))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (br $vl)))
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $bytes) (i32.const 15))))
    (block $sdone (loop $sl
      (br_if $sdone (i32.ge_u (local.get $d) (local.get $end)))
      (f32.store (local.get $d) (f32.load (local.get $s)))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (br $sl))))

  ;; dst[i] += src[i] over `bytes` (a multiple of 4).
  (func $add_into (param $d i32) (param $s i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $d) (i32.and (local.get $bytes) (i32.const -16))))
    (block $vdone (loop $vl
      (br_if $vdone (i32.ge_u (local.get $d) (local.get $end)))
      (v128.store (local.get $d) (f32x4.add (v128.load (local.get $d)) (v128.load (local.get $s))))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (br $vl)))
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $bytes) (i32.const 15))))
    (block $sdone (loop $sl
      (br_if $sdone (i32.ge_u (local.get $d) (local.get $end)))
      (f32.store (local.get $d) (f32.add (f32.load (local.get $d)) (f32.load (local.get $s))))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (br $sl))))

  ;; Walks rows [p0, p0 + rows) of the im2col matrix of an NHWC convolution (dilation 1) and, for
  ;; each run of input values a row holds, either copies it from x into buf (scatter = 0: im2col)
  ;; or adds it from buf into x (scatter = 1: col2im, the input gradient's scatter); rows of buf
  ;; are `ld` bytes apart (at least K floats). Copying may write up to 12 bytes past a row's K
  ;; floats (the caller leaves 16 bytes of slack after buf; padding columns get garbage) and reads
  ;; x up to xEnd, the end of x's bytes. Row p is output
  ;; pixel (n, oy, ox); its K = FH FW C columns are, for each tap row kh, the FW pixels from input
  ;; column ox sw - left on, C channels each: one contiguous run when all FW are inside the image.
  ;; Taps in the padding are zeros in buf (im2col) and ignored (col2im).
  (func (export "im2col")
    (param $x i32) (param $xEnd i32) (param $buf i32) (param $ld i32) (param $p0 i32) (param $rows i32) (param $scatter i32)
    (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (call $im2col_walk (local.get $x) (local.get $xEnd) (local.get $buf) (local.get $ld) (local.get $p0) (local.get $rows) (local.get $scatter)
      (local.get $H) (local.get $W) (local.get $C) (local.get $OH) (local.get $OW)
      (local.get $FH) (local.get $FW) (local.get $sh) (local.get $sw) (local.get $top) (local.get $left)))

  (func $im2col_walk
    (param $x i32) (param $xEnd i32) (param $buf i32) (param $ld i32) (param $p0 i32) (param $rows i32) (param $scatter i32)
    (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $n i32) (local $oy i32) (local $ox i32) (local $r i32) (local $kh i32) (local $kw i32)
    (local $iy i32) (local $ix i32) (local $ix0 i32) (local $cB i32) (local $segB i32) (local $d i32) (local $src i32) (local $q i32) (local $e i32)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $segB (i32.mul (local.get $FW) (local.get $cB)))
    (local.set $n (i32.div_u (local.get $p0) (i32.mul (local.get $OH) (local.get $OW))))
    (local.set $oy (i32.rem_u (local.get $p0) (i32.mul (local.get $OH) (local.get $OW))))
    (local.set $ox (i32.rem_u (local.get $oy) (local.get $OW)))
    (local.set $oy (i32.div_u (local.get $oy) (local.get $OW)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $d (i32.add (local.get $buf) (i32.mul (local.get $r) (local.get $ld))))
      (local.set $ix0 (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $left)))
      (local.set $kh (i32.const 0))
      (block $khdone (loop $khl
        (br_if $khdone (i32.ge_s (local.get $kh) (local.get $FH)))
        (local.set $iy (i32.add (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $top)) (local.get $kh)))
        (if (i32.or (i32.lt_s (local.get $iy) (i32.const 0)) (i32.ge_s (local.get $iy) (local.get $H)))
          (then
            (if (i32.eqz (local.get $scatter)) (then (memory.fill (local.get $d) (i32.const 0) (local.get $segB)))))
          (else
            ;; x[n, iy, 0, 0]
            (local.set $src (i32.add (local.get $x)
              (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $iy)) (local.get $W)) (local.get $cB))))
            (if (i32.and (i32.ge_s (local.get $ix0) (i32.const 0)) (i32.le_s (i32.add (local.get $ix0) (local.get $FW)) (local.get $W)))
              (then
                ;; the whole tap row is inside the image: one run of segB bytes, copied (or added) inline
                (local.set $src (i32.add (local.get $src) (i32.mul (local.get $ix0) (local.get $cB))))
                (local.set $q (local.get $d))
                (local.set $e (i32.add (local.get $d) (local.get $segB)))
                (if (local.get $scatter)
                  (then
                    (block $a4d (loop $a4l
                      (br_if $a4d (i32.gt_u (i32.add (local.get $q) (i32.const 64)) (local.get $e)))
                      (v128.store (local.get $src) (f32x4.add (v128.load (local.get $src)) (v128.load (local.get $q))))
                      (v128.store offset=16 (local.get $src) (f32x4.add (v128.load offset=16 (local.get $src)) (v128.load offset=16 (local.get $q))))
                      (v128.store offset=32 (local.get $src) (f32x4.add (v128.load offset=32 (local.get $src)) (v128.load offset=32 (local.get $q))))
                      (v128.store offset=48 (local.get $src) (f32x4.add (v128.load offset=48 (local.get $src)) (v128.load offset=48 (local.get $q))))
                      (local.set $q (i32.add (local.get $q) (i32.const 64)))
                      (local.set $src (i32.add (local.get $src) (i32.const 64)))
                      (br $a4l)))
                    (block $avd (loop $avl
                      (br_if $avd (i32.gt_u (i32.add (local.get $q) (i32.const 16)) (local.get $e)))
                      (v128.store (local.get $src) (f32x4.add (v128.load (local.get $src)) (v128.load (local.get $q))))
                      (local.set $q (i32.add (local.get $q) (i32.const 16)))
                      (local.set $src (i32.add (local.get $src) (i32.const 16)))
                      (br $avl)))
                    (block $asd (loop $asl
                      (br_if $asd (i32.ge_u (local.get $q) (local.get $e)))
                      (f32.store (local.get $src) (f32.add (f32.load (local.get $src)) (f32.load (local.get $q))))
                      (local.set $q (i32.add (local.get $q) (i32.const 4)))
                      (local.set $src (i32.add (local.get $src) (i32.const 4)))
                      (br $asl))))
                  (else
                    ;; 64 bytes at a time, then 16, then 4
                    (block $c4d (loop $c4l
                      (br_if $c4d (i32.gt_u (i32.add (local.get $q) (i32.const 64)) (local.get $e)))
                      (v128.store (local.get $q) (v128.load (local.get $src)))
                      (v128.store offset=16 (local.get $q) (v128.load offset=16 (local.get $src)))
                      (v128.store offset=32 (local.get $q) (v128.load offset=32 (local.get $src)))
                      (v128.store offset=48 (local.get $q) (v128.load offset=48 (local.get $src)))
                      (local.set $q (i32.add (local.get $q) (i32.const 64)))
                      (local.set $src (i32.add (local.get $src) (i32.const 64)))
                      (br $c4l)))
                    (block $cvd (loop $cvl
                      (br_if $cvd (i32.gt_u (i32.add (local.get $q) (i32.const 16)) (local.get $e)))
                      (v128.store (local.get $q) (v128.load (local.get $src)))
                      (local.set $q (i32.add (local.get $q) (i32.const 16)))
                      (local.set $src (i32.add (local.get $src) (i32.const 16)))
                      (br $cvl)))
                    ;; a tail of 4 to 12 bytes in one 16-byte copy when x has 16 bytes there: the
                    ;; bytes written past the run are the next run's (or row's), or the slack the
                    ;; caller leaves after buf, or padding columns whose products are dropped
                    (if (i32.and (i32.lt_u (local.get $q) (local.get $e)) (i32.le_u (i32.add (local.get $src) (i32.const 16)) (local.get $xEnd))) (then
                      (v128.store (local.get $q) (v128.load (local.get $src)))
                      (local.set $q (local.get $e))))
                    (block $csd (loop $csl
                      (br_if $csd (i32.ge_u (local.get $q) (local.get $e)))
                      (f32.store (local.get $q) (f32.load (local.get $src)))
                      (local.set $q (i32.add (local.get $q) (i32.const 4)))
                      (local.set $src (i32.add (local.get $src) (i32.const 4)))
                      (br $csl))))))
              (else
                ;; the taps inside the image are kw in [kw0, kw1): one run; zeros (im2col) either side
                (local.set $kw (select (i32.sub (i32.const 0) (local.get $ix0)) (i32.const 0) (i32.lt_s (local.get $ix0) (i32.const 0))))
                (local.set $ix (i32.sub (local.get $W) (local.get $ix0)))
                (if (i32.gt_s (local.get $ix) (local.get $FW)) (then (local.set $ix (local.get $FW))))
                (if (i32.lt_s (local.get $ix) (local.get $kw)) (then (local.set $ix (local.get $kw))))
                ;; now $kw = kw0, $ix = kw1
                (if (local.get $scatter)
                  (then (call $add_into
                    (i32.add (local.get $src) (i32.mul (i32.add (local.get $ix0) (local.get $kw)) (local.get $cB)))
                    (i32.add (local.get $d) (i32.mul (local.get $kw) (local.get $cB)))
                    (i32.mul (i32.sub (local.get $ix) (local.get $kw)) (local.get $cB))))
                  (else
                    (memory.fill (local.get $d) (i32.const 0) (i32.mul (local.get $kw) (local.get $cB)))
                    (call $copy
                      (i32.add (local.get $d) (i32.mul (local.get $kw) (local.get $cB)))
                      (i32.add (local.get $src) (i32.mul (i32.add (local.get $ix0) (local.get $kw)) (local.get $cB)))
                      (i32.mul (i32.sub (local.get $ix) (local.get $kw)) (local.get $cB)))
                    (memory.fill (i32.add (local.get $d) (i32.mul (local.get $ix) (local.get $cB))) (i32.const 0)
                      (i32.mul (i32.sub (local.get $FW) (local.get $ix)) (local.get $cB)))))))))
        (local.set $d (i32.add (local.get $d) (local.get $segB)))
        (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
        (br $khl)))
      ;; next output pixel
      (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
      (if (i32.eq (local.get $ox) (local.get $OW)) (then
        (local.set $ox (i32.const 0))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (if (i32.eq (local.get $oy) (local.get $OH)) (then
          (local.set $oy (i32.const 0))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; Packs B[K, N] (rows `ldb` bytes apart; transposed = 1: B is the transpose of src[N, K], rows
  ;; K floats) into panels of 8 columns, dst[j / 8][k][0..7], the layout $gemm streams; columns
  ;; past N are zeros.
  (func (export "pack_b")
    (param $src i32) (param $ldb i32) (param $transposed i32) (param $dst i32) (param $K i32) (param $N i32)
    (local $j i32) (local $k i32) (local $q i32) (local $w i32) (local $s i32)
    (block $jdone (loop $jl
      (br_if $jdone (i32.ge_u (local.get $j) (local.get $N)))
      (local.set $w (i32.sub (local.get $N) (local.get $j)))
      (local.set $k (i32.const 0))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $K)))
        (if (i32.and (i32.ge_u (local.get $w) (i32.const 8)) (i32.eqz (local.get $transposed)))
          (then
            (local.set $s (i32.add (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $ldb))) (i32.shl (local.get $j) (i32.const 2))))
            (v128.store (local.get $dst) (v128.load (local.get $s)))
            (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $s))))
          (else
            (v128.store (local.get $dst) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (local.get $dst) (v128.const i32x4 0 0 0 0))
            (local.set $q (i32.const 0))
            (block $qdone (loop $ql
              (br_if $qdone (i32.ge_u (local.get $q) (select (local.get $w) (i32.const 8) (i32.lt_u (local.get $w) (i32.const 8)))))
              (f32.store (i32.add (local.get $dst) (i32.shl (local.get $q) (i32.const 2)))
                (f32.load (select
                  (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (i32.add (local.get $j) (local.get $q)) (local.get $K)) (local.get $k)) (i32.const 2)))
                  (i32.add (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $ldb))) (i32.shl (i32.add (local.get $j) (local.get $q)) (i32.const 2)))
                  (local.get $transposed))))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br $ql)))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $jl))))

  ;; Stores the first w lanes of v0:v1 (all 8 when w >= 8) at p.
  (func $store_cols (param $p i32) (param $v0 v128) (param $v1 v128) (param $w i32)
    (if (i32.ge_u (local.get $w) (i32.const 8)) (then
      (v128.store (local.get $p) (local.get $v0))
      (v128.store offset=16 (local.get $p) (local.get $v1))
      (return)))
    (if (i32.ge_u (local.get $w) (i32.const 4)) (then
      (v128.store (local.get $p) (local.get $v0))
      (local.set $v0 (local.get $v1))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $w (i32.sub (local.get $w) (i32.const 4)))))
    (if (i32.ge_u (local.get $w) (i32.const 1)) (then (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $v0)))))
    (if (i32.ge_u (local.get $w) (i32.const 2)) (then (f32.store offset=4 (local.get $p) (f32x4.extract_lane 1 (local.get $v0)))))
    (if (i32.ge_u (local.get $w) (i32.const 3)) (then (f32.store offset=8 (local.get $p) (f32x4.extract_lane 2 (local.get $v0))))))

  ;; c[M, N] = act(a[M, K] B + bias) with B packed by pack_b (`bp`) and `bias` readable for N
  ;; rounded up to 8 floats; flags: 1 adds the bias (accumulators start at it), 2 applies relu
  ;; (f32x4.max, which keeps a NaN a NaN). For each 8-column panel (K x 32 bytes, kept in L1),
  ;; tiles of 4 rows x 8 columns hold 8 accumulators; rows left over go one at a time.
  (func $gemm (export "gemm")
    (param $a i32) (param $lda i32) (param $bp i32) (param $bias i32) (param $c i32) (param $ldc i32)
    (param $M i32) (param $K i32) (param $N i32) (param $flags i32)
    (local $j i32) (local $w i32) (local $r i32) (local $kk i32) (local $kB i32) (local $pp i32) (local $panel i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $o i32)
    (local $b0 v128) (local $b1 v128) (local $w0 v128) (local $w1 v128) (local $s v128) (local $z v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $kB (i32.shl (local.get $K) (i32.const 2)))
    (local.set $panel (local.get $bp))
    (block $jdone (loop $jl
      (br_if $jdone (i32.ge_u (local.get $j) (local.get $N)))
      (local.set $w (i32.sub (local.get $N) (local.get $j)))
      (if (i32.and (local.get $flags) (i32.const 1))
        (then
          (local.set $b0 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
          (local.set $b1 (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))
        (else
          (local.set $b0 (v128.const i32x4 0 0 0 0))
          (local.set $b1 (v128.const i32x4 0 0 0 0))))
      (local.set $r (i32.const 0))
      (block $r4done (loop $r4l
        (br_if $r4done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $M)))
        (local.set $x0 (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $lda))))
        (local.set $x1 (i32.add (local.get $x0) (local.get $lda)))
        (local.set $x2 (i32.add (local.get $x1) (local.get $lda)))
        (local.set $x3 (i32.add (local.get $x2) (local.get $lda)))
        (local.set $a0 (local.get $b0)) (local.set $a1 (local.get $b1))
        (local.set $a2 (local.get $b0)) (local.set $a3 (local.get $b1))
        (local.set $a4 (local.get $b0)) (local.set $a5 (local.get $b1))
        (local.set $a6 (local.get $b0)) (local.set $a7 (local.get $b1))
        (local.set $pp (local.get $panel))
        (local.set $kk (i32.const 0))
        (block $kdone (loop $kl
          (br_if $kdone (i32.ge_u (local.get $kk) (local.get $kB)))
          (local.set $w0 (v128.load (local.get $pp)))
          (local.set $w1 (v128.load offset=16 (local.get $pp)))
          (local.set $s (v128.load32_splat (i32.add (local.get $x0) (local.get $kk))))
          (local.set $a0 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a0)))
          (local.set $a1 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a1)))
          (local.set $s (v128.load32_splat (i32.add (local.get $x1) (local.get $kk))))
          (local.set $a2 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a2)))
          (local.set $a3 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a3)))
          (local.set $s (v128.load32_splat (i32.add (local.get $x2) (local.get $kk))))
          (local.set $a4 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a4)))
          (local.set $a5 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a5)))
          (local.set $s (v128.load32_splat (i32.add (local.get $x3) (local.get $kk))))
          (local.set $a6 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a6)))
          (local.set $a7 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a7)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
          (br $kl)))
        (if (i32.and (local.get $flags) (i32.const 2)) (then
          (local.set $z (v128.const i32x4 0 0 0 0))
          (local.set $a0 (f32x4.max (local.get $a0) (local.get $z))) (local.set $a1 (f32x4.max (local.get $a1) (local.get $z)))
          (local.set $a2 (f32x4.max (local.get $a2) (local.get $z))) (local.set $a3 (f32x4.max (local.get $a3) (local.get $z)))
          (local.set $a4 (f32x4.max (local.get $a4) (local.get $z))) (local.set $a5 (f32x4.max (local.get $a5) (local.get $z)))
          (local.set $a6 (f32x4.max (local.get $a6) (local.get $z))) (local.set $a7 (f32x4.max (local.get $a7) (local.get $z)))))
        (local.set $o (i32.add (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (if (i32.ge_u (local.get $w) (i32.const 8))
          (then
            (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a2)) (v128.store offset=16 (local.get $o) (local.get $a3))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a4)) (v128.store offset=16 (local.get $o) (local.get $a5))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a6)) (v128.store offset=16 (local.get $o) (local.get $a7)))
          (else
            (call $store_cols (local.get $o) (local.get $a0) (local.get $a1) (local.get $w))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (call $store_cols (local.get $o) (local.get $a2) (local.get $a3) (local.get $w))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (call $store_cols (local.get $o) (local.get $a4) (local.get $a5) (local.get $w))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (call $store_cols (local.get $o) (local.get $a6) (local.get $a7) (local.get $w))))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $r4l)))
      ;; the rows left over, one at a time
      (block $r1done (loop $r1l
        (br_if $r1done (i32.ge_u (local.get $r) (local.get $M)))
        (local.set $x0 (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $lda))))
        (local.set $a0 (local.get $b0)) (local.set $a1 (local.get $b1))
        (local.set $pp (local.get $panel))
        (local.set $kk (i32.const 0))
        (block $k1done (loop $k1l
          (br_if $k1done (i32.ge_u (local.get $kk) (local.get $kB)))
          (local.set $s (v128.load32_splat (i32.add (local.get $x0) (local.get $kk))))
          (local.set $a0 (f32x4.relaxed_madd (local.get $s) (v128.load (local.get $pp)) (local.get $a0)))
          (local.set $a1 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (local.get $pp)) (local.get $a1)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
          (br $k1l)))
        (if (i32.and (local.get $flags) (i32.const 2)) (then
          (local.set $z (v128.const i32x4 0 0 0 0))
          (local.set $a0 (f32x4.max (local.get $a0) (local.get $z))) (local.set $a1 (f32x4.max (local.get $a1) (local.get $z)))))
        (local.set $o (i32.add (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (if (i32.ge_u (local.get $w) (i32.const 8))
          (then (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1)))
          (else (call $store_cols (local.get $o) (local.get $a0) (local.get $a1) (local.get $w))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $r1l)))
      (local.set $panel (i32.add (local.get $panel) (i32.shl (local.get $kB) (i32.const 3))))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $jl))))

  ;; c[K, N] = a[R, K]^T b[R, N] (accumulate = 1: c += that), N a multiple of 4, rows of a, b and c
  ;; `lda`, `ldb` and `ldc` bytes apart: a convolution's filter gradient, im2col^T dy. Tiles of 4
  ;; rows of c x 8 columns (x 4 for the last columns when N mod 8 = 4) keep their accumulators in
  ;; registers over all R; rows of c left over (K mod 4) go one at a time.
  (func (export "gemm_tn")
    (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32) (param $c i32) (param $ldc i32)
    (param $R i32) (param $K i32) (param $N i32) (param $accumulate i32)
    (local $k i32) (local $j i32) (local $r i32) (local $ap i32) (local $bp i32) (local $o i32) (local $n8 i32) (local $wide i32)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    ;; $n8: columns covered by 8-wide tiles
    (local.set $n8 (i32.and (local.get $N) (i32.const -8)))
    (block $kdone (loop $kl
      (br_if $kdone (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $K)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (local.get $N)))
        (local.set $wide (i32.lt_u (local.get $j) (local.get $n8)))
        (local.set $o (i32.add (i32.add (local.get $c) (i32.mul (local.get $k) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (if (local.get $accumulate)
          (then
            (local.set $a0 (v128.load (local.get $o)))
            (local.set $a2 (v128.load (i32.add (local.get $o) (local.get $ldc))))
            (local.set $a4 (v128.load (i32.add (local.get $o) (i32.shl (local.get $ldc) (i32.const 1)))))
            (local.set $a6 (v128.load (i32.add (local.get $o) (i32.mul (local.get $ldc) (i32.const 3)))))
            (if (local.get $wide) (then
              (local.set $a1 (v128.load offset=16 (local.get $o)))
              (local.set $a3 (v128.load offset=16 (i32.add (local.get $o) (local.get $ldc))))
              (local.set $a5 (v128.load offset=16 (i32.add (local.get $o) (i32.shl (local.get $ldc) (i32.const 1)))))
              (local.set $a7 (v128.load offset=16 (i32.add (local.get $o) (i32.mul (local.get $ldc) (i32.const 3))))))))
          (else
            (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
            (local.set $a4 (local.get $a0)) (local.set $a5 (local.get $a0))
            (local.set $a6 (local.get $a0)) (local.set $a7 (local.get $a0))))
        (local.set $ap (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $r (local.get $R))
        (if (local.get $wide)
          (then
            (block $rdone (loop $rl
              (br_if $rdone (i32.eqz (local.get $r)))
              (local.set $b0 (v128.load (local.get $bp)))
              (local.set $b1 (v128.load offset=16 (local.get $bp)))
              (local.set $s (v128.load32_splat (local.get $ap)))
              (local.set $a0 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a0)))
              (local.set $a1 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a1)))
              (local.set $s (v128.load32_splat offset=4 (local.get $ap)))
              (local.set $a2 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a2)))
              (local.set $a3 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a3)))
              (local.set $s (v128.load32_splat offset=8 (local.get $ap)))
              (local.set $a4 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a4)))
              (local.set $a5 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a5)))
              (local.set $s (v128.load32_splat offset=12 (local.get $ap)))
              (local.set $a6 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a6)))
              (local.set $a7 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a7)))
              (local.set $ap (i32.add (local.get $ap) (local.get $lda)))
              (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
              (local.set $r (i32.sub (local.get $r) (i32.const 1)))
              (br $rl)))
            (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a2)) (v128.store offset=16 (local.get $o) (local.get $a3))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a4)) (v128.store offset=16 (local.get $o) (local.get $a5))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a6)) (v128.store offset=16 (local.get $o) (local.get $a7))
            (local.set $j (i32.add (local.get $j) (i32.const 8))))
          (else
            (block $r4done (loop $r4l
              (br_if $r4done (i32.eqz (local.get $r)))
              (local.set $b0 (v128.load (local.get $bp)))
              (local.set $a0 (f32x4.relaxed_madd (v128.load32_splat (local.get $ap)) (local.get $b0) (local.get $a0)))
              (local.set $a2 (f32x4.relaxed_madd (v128.load32_splat offset=4 (local.get $ap)) (local.get $b0) (local.get $a2)))
              (local.set $a4 (f32x4.relaxed_madd (v128.load32_splat offset=8 (local.get $ap)) (local.get $b0) (local.get $a4)))
              (local.set $a6 (f32x4.relaxed_madd (v128.load32_splat offset=12 (local.get $ap)) (local.get $b0) (local.get $a6)))
              (local.set $ap (i32.add (local.get $ap) (local.get $lda)))
              (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
              (local.set $r (i32.sub (local.get $r) (i32.const 1)))
              (br $r4l)))
            (v128.store (local.get $o) (local.get $a0))
            (v128.store (i32.add (local.get $o) (local.get $ldc)) (local.get $a2))
            (v128.store (i32.add (local.get $o) (i32.shl (local.get $ldc) (i32.const 1))) (local.get $a4))
            (v128.store (i32.add (local.get $o) (i32.mul (local.get $ldc) (i32.const 3))) (local.get $a6))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))))
        (br $jl)))
      (local.set $k (i32.add (local.get $k) (i32.const 4)))
      (br $kl)))
    ;; rows of c left over, one at a time, 4 columns at a time
    (block $k1done (loop $k1l
      (br_if $k1done (i32.ge_u (local.get $k) (local.get $K)))
      (local.set $j (i32.const 0))
      (block $j1done (loop $j1l
        (br_if $j1done (i32.ge_u (local.get $j) (local.get $N)))
        (local.set $o (i32.add (i32.add (local.get $c) (i32.mul (local.get $k) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $a0 (select (v128.load (local.get $o)) (v128.const i32x4 0 0 0 0) (local.get $accumulate)))
        (local.set $ap (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $r (local.get $R))
        (block $r1done (loop $r1l
          (br_if $r1done (i32.eqz (local.get $r)))
          (local.set $a0 (f32x4.relaxed_madd (v128.load32_splat (local.get $ap)) (v128.load (local.get $bp)) (local.get $a0)))
          (local.set $ap (i32.add (local.get $ap) (local.get $lda)))
          (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
          (local.set $r (i32.sub (local.get $r) (i32.const 1)))
          (br $r1l)))
        (v128.store (local.get $o) (local.get $a0))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $j1l)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $k1l))))

  ;; The filter gradient without an im2col matrix: c[K4, N] (+)= cols^T b, where row p of cols is
  ;; read from x where gemm_tn would read the im2col row: output pixel p = (n, oy, ox) at
  ;; x + ((n Hp + oy sh) Wp + ox sw) C floats, tap t = (kh FW + kw) C + ci at (kh Wp C + kw C + ci)
  ;; floats past it. x is [n, Hp, Wp, C] with every tap inside (the caller pads a copy where the
  ;; convolution pads). Taps t >= K (the rows that round K up to K4) read tap 0: their rows of c are
  ;; dropped. Rows [p0, p0 + R) of cols and rows [k0, K4) of c (k0 a multiple of 4: two threads can
  ;; take different taps); b is dy at row p0 (rows ldb bytes apart), c's rows are ldc bytes apart.
  ;; Each value of c is one chain of multiply-adds over the pixels in order, as in gemm_tn over the
  ;; im2col rows: the same bits.
  (func (export "filter_grad_direct")
    (param $x i32) (param $Hp i32) (param $Wp i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $sh i32) (param $sw i32) (param $FW i32) (param $K i32) (param $k0 i32) (param $K4 i32)
    (param $p0 i32) (param $R i32) (param $b i32) (param $ldb i32) (param $c i32) (param $ldc i32)
    (param $N i32) (param $accumulate i32)
    (local $k i32) (local $j i32) (local $t i32) (local $o i32) (local $n8 i32) (local $wide i32)
    (local $o0 i32) (local $o1 i32) (local $o2 i32) (local $o3 i32)
    (local $n0 i32) (local $oy0 i32) (local $ox0 i32) (local $n i32) (local $oy i32) (local $ox i32)
    (local $r i32) (local $run i32) (local $pb i32) (local $bp i32) (local $pixB i32) (local $kwc i32) (local $contig i32)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $n8 (i32.and (local.get $N) (i32.const -8)))
    (local.set $pixB (i32.shl (i32.mul (local.get $sw) (local.get $C)) (i32.const 2)))
    (local.set $kwc (i32.mul (local.get $FW) (local.get $C)))
    (local.set $n0 (i32.div_u (local.get $p0) (i32.mul (local.get $OH) (local.get $OW))))
    (local.set $oy0 (i32.rem_u (local.get $p0) (i32.mul (local.get $OH) (local.get $OW))))
    (local.set $ox0 (i32.rem_u (local.get $oy0) (local.get $OW)))
    (local.set $oy0 (i32.div_u (local.get $oy0) (local.get $OW)))
    (local.set $k (local.get $k0))
    (block $kdone (loop $kl
      (br_if $kdone (i32.ge_u (local.get $k) (local.get $K4)))
      ;; the byte offsets of taps k .. k + 3 from a pixel's first value
      (local.set $o0 (call $tap_offset (local.get $k) (local.get $K) (local.get $kwc) (local.get $Wp) (local.get $C)))
      (local.set $o1 (call $tap_offset (i32.add (local.get $k) (i32.const 1)) (local.get $K) (local.get $kwc) (local.get $Wp) (local.get $C)))
      (local.set $o2 (call $tap_offset (i32.add (local.get $k) (i32.const 2)) (local.get $K) (local.get $kwc) (local.get $Wp) (local.get $C)))
      (local.set $o3 (call $tap_offset (i32.add (local.get $k) (i32.const 3)) (local.get $K) (local.get $kwc) (local.get $Wp) (local.get $C)))
      ;; the inner loops read from a pointer at tap k: the other three relative to it
      (local.set $o1 (i32.sub (local.get $o1) (local.get $o0)))
      (local.set $o2 (i32.sub (local.get $o2) (local.get $o0)))
      (local.set $o3 (i32.sub (local.get $o3) (local.get $o0)))
      (local.set $contig (i32.and (i32.and (i32.eq (local.get $o1) (i32.const 4)) (i32.eq (local.get $o2) (i32.const 8))) (i32.eq (local.get $o3) (i32.const 12))))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (local.get $N)))
        (local.set $wide (i32.lt_u (local.get $j) (local.get $n8)))
        (local.set $o (i32.add (i32.add (local.get $c) (i32.mul (local.get $k) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (if (local.get $accumulate)
          (then
            (local.set $a0 (v128.load (local.get $o)))
            (local.set $a2 (v128.load (i32.add (local.get $o) (local.get $ldc))))
            (local.set $a4 (v128.load (i32.add (local.get $o) (i32.shl (local.get $ldc) (i32.const 1)))))
            (local.set $a6 (v128.load (i32.add (local.get $o) (i32.mul (local.get $ldc) (i32.const 3)))))
            (if (local.get $wide) (then
              (local.set $a1 (v128.load offset=16 (local.get $o)))
              (local.set $a3 (v128.load offset=16 (i32.add (local.get $o) (local.get $ldc))))
              (local.set $a5 (v128.load offset=16 (i32.add (local.get $o) (i32.shl (local.get $ldc) (i32.const 1)))))
              (local.set $a7 (v128.load offset=16 (i32.add (local.get $o) (i32.mul (local.get $ldc) (i32.const 3))))))))
          (else
            (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
            (local.set $a4 (local.get $a0)) (local.set $a5 (local.get $a0))
            (local.set $a6 (local.get $a0)) (local.set $a7 (local.get $a0))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $n (local.get $n0)) (local.set $oy (local.get $oy0)) (local.set $ox (local.get $ox0))
        (local.set $r (local.get $R))
        ;; runs of pixels along one output row
        (block $rdone (loop $rl
          (br_if $rdone (i32.eqz (local.get $r)))
          (local.set $run (i32.sub (local.get $OW) (local.get $ox)))
          (if (i32.gt_u (local.get $run) (local.get $r)) (then (local.set $run (local.get $r))))
          (local.set $r (i32.sub (local.get $r) (local.get $run)))
          (local.set $pb (i32.add (local.get $x) (i32.shl (i32.mul
            (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $Hp)) (i32.mul (local.get $oy) (local.get $sh))) (local.get $Wp))
                     (i32.mul (local.get $ox) (local.get $sw)))
            (local.get $C)) (i32.const 2))))
          (local.set $pb (i32.add (local.get $pb) (local.get $o0)))
          (if (local.get $wide)
            (then
              (if (local.get $contig)
                (then
                  ;; taps k .. k + 3 are 4 channels side by side: one pointer
                  (block $cdone (loop $cl
                    (br_if $cdone (i32.eqz (local.get $run)))
                    (local.set $b0 (v128.load (local.get $bp)))
                    (local.set $b1 (v128.load offset=16 (local.get $bp)))
                    (local.set $s (v128.load32_splat (local.get $pb)))
                    (local.set $a0 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a0)))
                    (local.set $a1 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a1)))
                    (local.set $s (v128.load32_splat offset=4 (local.get $pb)))
                    (local.set $a2 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a2)))
                    (local.set $a3 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a3)))
                    (local.set $s (v128.load32_splat offset=8 (local.get $pb)))
                    (local.set $a4 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a4)))
                    (local.set $a5 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a5)))
                    (local.set $s (v128.load32_splat offset=12 (local.get $pb)))
                    (local.set $a6 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a6)))
                    (local.set $a7 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a7)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $pixB)))
                    (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                    (local.set $run (i32.sub (local.get $run) (i32.const 1)))
                    (br $cl))))
                (else
                  (block $pdone (loop $pl
                    (br_if $pdone (i32.eqz (local.get $run)))
                    (local.set $b0 (v128.load (local.get $bp)))
                    (local.set $b1 (v128.load offset=16 (local.get $bp)))
                    (local.set $s (v128.load32_splat (local.get $pb)))
                    (local.set $a0 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a0)))
                    (local.set $a1 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a1)))
                    (local.set $s (v128.load32_splat (i32.add (local.get $pb) (local.get $o1))))
                    (local.set $a2 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a2)))
                    (local.set $a3 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a3)))
                    (local.set $s (v128.load32_splat (i32.add (local.get $pb) (local.get $o2))))
                    (local.set $a4 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a4)))
                    (local.set $a5 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a5)))
                    (local.set $s (v128.load32_splat (i32.add (local.get $pb) (local.get $o3))))
                    (local.set $a6 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $a6)))
                    (local.set $a7 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $a7)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $pixB)))
                    (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                    (local.set $run (i32.sub (local.get $run) (i32.const 1)))
                    (br $pl))))))
            (else
              (block $p4done (loop $p4l
                (br_if $p4done (i32.eqz (local.get $run)))
                (local.set $b0 (v128.load (local.get $bp)))
                (local.set $a0 (f32x4.relaxed_madd (v128.load32_splat (local.get $pb)) (local.get $b0) (local.get $a0)))
                (local.set $a2 (f32x4.relaxed_madd (v128.load32_splat (i32.add (local.get $pb) (local.get $o1))) (local.get $b0) (local.get $a2)))
                (local.set $a4 (f32x4.relaxed_madd (v128.load32_splat (i32.add (local.get $pb) (local.get $o2))) (local.get $b0) (local.get $a4)))
                (local.set $a6 (f32x4.relaxed_madd (v128.load32_splat (i32.add (local.get $pb) (local.get $o3))) (local.get $b0) (local.get $a6)))
                (local.set $pb (i32.add (local.get $pb) (local.get $pixB)))
                (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                (local.set $run (i32.sub (local.get $run) (i32.const 1)))
                (br $p4l)))))
          ;; the next output row
          (local.set $ox (i32.const 0))
          (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
          (if (i32.eq (local.get $oy) (local.get $OH)) (then
            (local.set $oy (i32.const 0))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))))
          (br $rl)))
        (if (local.get $wide)
          (then
            (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a2)) (v128.store offset=16 (local.get $o) (local.get $a3))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a4)) (v128.store offset=16 (local.get $o) (local.get $a5))
            (local.set $o (i32.add (local.get $o) (local.get $ldc)))
            (v128.store (local.get $o) (local.get $a6)) (v128.store offset=16 (local.get $o) (local.get $a7))
            (local.set $j (i32.add (local.get $j) (i32.const 8))))
          (else
            (v128.store (local.get $o) (local.get $a0))
            (v128.store (i32.add (local.get $o) (local.get $ldc)) (local.get $a2))
            (v128.store (i32.add (local.get $o) (i32.shl (local.get $ldc) (i32.const 1))) (local.get $a4))
            (v128.store (i32.add (local.get $o) (i32.mul (local.get $ldc) (i32.const 3))) (local.get $a6))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))))
        (br $jl)))
      (local.set $k (i32.add (local.get $k) (i32.const 4)))
      (br $kl))))

  ;; Byte offset of filter tap t (K taps, FW C of them per filter row) from a pixel's first value
  ;; in rows of Wp pixels of C channels; 0 for t >= K.
  (func $tap_offset (param $t i32) (param $K i32) (param $kwc i32) (param $Wp i32) (param $C i32) (result i32)
    (if (i32.ge_u (local.get $t) (local.get $K)) (then (return (i32.const 0))))
    (i32.shl (i32.add (i32.mul (i32.div_u (local.get $t) (local.get $kwc)) (i32.mul (local.get $Wp) (local.get $C)))
                      (i32.rem_u (local.get $t) (local.get $kwc))) (i32.const 2)))

;; dst[fh - 1 - kh, fw - 1 - kw, co, ci] = src[kh, kw, ci, co]: the filter of the convolution
  ;; whose output is the input gradient of a stride-1 convolution (each tap's [ci, co] block
  ;; transposed, the taps in reverse order).
  (func (export "flip_filter") (param $src i32) (param $dst i32) (param $FH i32) (param $FW i32) (param $Cin i32) (param $Cout i32)
    (local $t i32) (local $taps i32) (local $ci i32) (local $co i32) (local $s i32) (local $d i32) (local $block i32)
    (local.set $taps (i32.mul (local.get $FH) (local.get $FW)))
    (local.set $block (i32.shl (i32.mul (local.get $Cin) (local.get $Cout)) (i32.const 2)))
    (block $tdone (loop $tl
      (br_if $tdone (i32.ge_u (local.get $t) (local.get $taps)))
      (local.set $s (i32.add (local.get $src) (i32.mul (local.get $t) (local.get $block))))
      (local.set $d (i32.add (local.get $dst) (i32.mul (i32.sub (i32.sub (local.get $taps) (i32.const 1)) (local.get $t)) (local.get $block))))
      (local.set $ci (i32.const 0))
      (block $cidone (loop $cil
        (br_if $cidone (i32.ge_u (local.get $ci) (local.get $Cin)))
        (local.set $co (i32.const 0))
        (block $codone (loop $col
          (br_if $codone (i32.ge_u (local.get $co) (local.get $Cout)))
          (f32.store (i32.add (local.get $d) (i32.shl (i32.add (i32.mul (local.get $co) (local.get $Cin)) (local.get $ci)) (i32.const 2)))
            (f32.load (i32.add (local.get $s) (i32.shl (i32.add (i32.mul (local.get $ci) (local.get $Cout)) (local.get $co)) (i32.const 2)))))
          (local.set $co (i32.add (local.get $co) (i32.const 1)))
          (br $col)))
        (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
        (br $cil)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $tl))))

  ;; Output pixels [p0, p0 + rows) of an NHWC convolution (dilation 1), y = act(conv(x) + bias)
  ;; (flags as $gemm), without writing im2col rows for most pixels: in tiles of four pixels, a
  ;; tile whose taps all lie inside the image reads x where it lies, one run of FW C floats per
  ;; filter row (run s of pixel r at a_r + s W C floats); only the other tiles are copied by im2col
  ;; into their slot of `tb` (rows floats x K), read as one run of K floats. `tbl` is scratch of
  ;; 5 i32 per tile (its four row addresses and whether it is inside). Then, panel by panel of the
  ;; filter packed by pack_b (`bp`, kept in L1), every tile: the loop order of $gemm. Returns 0.
  ;;
  ;; Flag 8: relu(conv(x) + bias) then 2x2 max pooling at stride 2 without padding
  ;; (KdqConvReluPool), for pooled pixels [p0, p0 + rows) instead: each tile is one pool window
  ;; (its four pixels row-major) instead of four pixels in a row, so the convolution's output is
  ;; never written. Each pixel's sum is the same (same taps, same order); the window's maximum goes
  ;; to y ([n, OH / 2, OW / 2, N]) and its routing byte to arg, as max_pool_2x2_arg computes them
  ;; from the convolution's output: the same bits. Pixels in no window (an odd OH or OW) are not
  ;; computed. Scratch: tb (4 rows K floats + 16 bytes), tbl (5 rows i32). N a multiple of 4. With
  ;; flag 4 too, no routing bytes (arg unused), the maxima only. Returns how many (window,
  ;; channel) maxima were NaN (then arg is unusable).
  (func (export "conv_direct")
    (param $x i32) (param $xEnd i32) (param $bp i32) (param $bias i32) (param $y i32) (param $arg i32) (param $tb i32) (param $tbl i32) (param $flags i32)
    (param $p0 i32) (param $rows i32)
    (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32) (param $N i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (result i32)
    (local $q i32) (local $end i32) (local $m i32) (local $r i32) (local $n i32) (local $oy i32) (local $ox i32)
    (local $py i32) (local $px i32) (local $PH i32) (local $PW i32) (local $pool i32) (local $misses i32) (local $ao i32)
    (local $iy i32) (local $ix i32) (local $inside i32) (local $cB i32) (local $segB i32) (local $kB i32) (local $rowB i32)
    (local $t i32) (local $e i32) (local $ptr i32) (local $j i32) (local $w i32) (local $panel i32)
    (local $nseg i32) (local $runB i32) (local $sg i32) (local $kk i32) (local $pp i32) (local $o i32) (local $ldc i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $b0 v128) (local $b1 v128) (local $w0 v128) (local $w1 v128) (local $s v128) (local $z v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128) (local $m01 v128) (local $m23 v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $segB (i32.mul (local.get $FW) (local.get $cB)))
    (local.set $kB (i32.mul (local.get $FH) (local.get $segB)))
    (local.set $rowB (i32.mul (local.get $W) (local.get $cB)))
    (local.set $ldc (i32.shl (local.get $N) (i32.const 2)))
    (local.set $end (i32.add (local.get $p0) (local.get $rows)))
    (local.set $pool (i32.and (local.get $flags) (i32.const 8)))
    (local.set $PH (i32.shr_u (local.get $OH) (i32.const 1)))
    (local.set $PW (i32.shr_u (local.get $OW) (i32.const 1)))
    (if (local.get $pool)
      (then
        ;; pass 1, pool windows: each window's four rows, (2 py, 2 px), (2 py, 2 px + 1), (2 py + 1, 2 px), (2 py + 1, 2 px + 1)
        (local.set $n (i32.div_u (local.get $p0) (i32.mul (local.get $PH) (local.get $PW))))
        (local.set $py (i32.rem_u (local.get $p0) (i32.mul (local.get $PH) (local.get $PW))))
        (local.set $px (i32.rem_u (local.get $py) (local.get $PW)))
        (local.set $py (i32.div_u (local.get $py) (local.get $PW)))
        (local.set $q (local.get $p0))
        (local.set $e (local.get $tbl))
        (block $q1done (loop $q1l
          (br_if $q1done (i32.ge_u (local.get $q) (local.get $end)))
          (local.set $inside (i32.const 1))
          (local.set $r (i32.const 0))
          (block $rdone (loop $rl
            (br_if $rdone (i32.ge_u (local.get $r) (i32.const 4)))
            (local.set $oy (i32.add (i32.shl (local.get $py) (i32.const 1)) (i32.shr_u (local.get $r) (i32.const 1))))
            (local.set $ox (i32.add (i32.shl (local.get $px) (i32.const 1)) (i32.and (local.get $r) (i32.const 1))))
            (local.set $iy (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $top)))
            (local.set $ix (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $left)))
            (local.set $inside (i32.and (local.get $inside) (i32.and
              (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.le_s (i32.add (local.get $iy) (local.get $FH)) (local.get $H)))
              (i32.and (i32.ge_s (local.get $ix) (i32.const 0)) (i32.le_s (i32.add (local.get $ix) (local.get $FW)) (local.get $W))))))
            (i32.store (i32.add (local.get $e) (i32.shl (local.get $r) (i32.const 2)))
              (i32.add (local.get $x) (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $iy)) (local.get $W)) (local.get $ix)) (local.get $cB))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rl)))
          (if (i32.eqz (local.get $inside)) (then
            ;; this window's slot of tb: two runs of two pixels, the window's rows
            (local.set $ptr (i32.add (local.get $tb) (i32.mul (i32.shl (i32.sub (local.get $q) (local.get $p0)) (i32.const 2)) (local.get $kB))))
            (local.set $r (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $OH)) (i32.shl (local.get $py) (i32.const 1))) (local.get $OW))
              (i32.shl (local.get $px) (i32.const 1))))
            (call $im2col_walk (local.get $x) (local.get $xEnd) (local.get $ptr) (local.get $kB) (local.get $r) (i32.const 2) (i32.const 0)
              (local.get $H) (local.get $W) (local.get $C) (local.get $OH) (local.get $OW)
              (local.get $FH) (local.get $FW) (local.get $sh) (local.get $sw) (local.get $top) (local.get $left))
            (call $im2col_walk (local.get $x) (local.get $xEnd) (i32.add (local.get $ptr) (i32.shl (local.get $kB) (i32.const 1))) (local.get $kB)
              (i32.add (local.get $r) (local.get $OW)) (i32.const 2) (i32.const 0)
              (local.get $H) (local.get $W) (local.get $C) (local.get $OH) (local.get $OW)
              (local.get $FH) (local.get $FW) (local.get $sh) (local.get $sw) (local.get $top) (local.get $left))
            (i32.store (local.get $e) (local.get $ptr))
            (i32.store offset=4 (local.get $e) (i32.add (local.get $ptr) (local.get $kB)))
            (i32.store offset=8 (local.get $e) (i32.add (local.get $ptr) (i32.shl (local.get $kB) (i32.const 1))))
            (i32.store offset=12 (local.get $e) (i32.add (local.get $ptr) (i32.mul (local.get $kB) (i32.const 3))))))
          (i32.store offset=16 (local.get $e) (local.get $inside))
          (local.set $e (i32.add (local.get $e) (i32.const 20)))
          (local.set $px (i32.add (local.get $px) (i32.const 1)))
          (if (i32.eq (local.get $px) (local.get $PW)) (then
            (local.set $px (i32.const 0))
            (local.set $py (i32.add (local.get $py) (i32.const 1)))
            (if (i32.eq (local.get $py) (local.get $PH)) (then
              (local.set $py (i32.const 0))
              (local.set $n (i32.add (local.get $n) (i32.const 1)))))))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $q1l))))
      (else
        ;; pass 1, pixels: the tiles' rows
        (local.set $n (i32.div_u (local.get $p0) (i32.mul (local.get $OH) (local.get $OW))))
        (local.set $oy (i32.rem_u (local.get $p0) (i32.mul (local.get $OH) (local.get $OW))))
        (local.set $ox (i32.rem_u (local.get $oy) (local.get $OW)))
        (local.set $oy (i32.div_u (local.get $oy) (local.get $OW)))
        (local.set $q (local.get $p0))
        (local.set $e (local.get $tbl))
        (block $q1done (loop $q1l
          (br_if $q1done (i32.ge_u (local.get $q) (local.get $end)))
          (local.set $m (i32.sub (local.get $end) (local.get $q)))
          (if (i32.gt_u (local.get $m) (i32.const 4)) (then (local.set $m (i32.const 4))))
          (local.set $inside (i32.eq (local.get $m) (i32.const 4)))
          (local.set $r (i32.const 0))
          (block $rdone (loop $rl
            (br_if $rdone (i32.ge_u (local.get $r) (local.get $m)))
            (local.set $iy (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $top)))
            (local.set $ix (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $left)))
            (local.set $inside (i32.and (local.get $inside) (i32.and
              (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.le_s (i32.add (local.get $iy) (local.get $FH)) (local.get $H)))
              (i32.and (i32.ge_s (local.get $ix) (i32.const 0)) (i32.le_s (i32.add (local.get $ix) (local.get $FW)) (local.get $W))))))
            (i32.store (i32.add (local.get $e) (i32.shl (local.get $r) (i32.const 2)))
              (i32.add (local.get $x) (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $iy)) (local.get $W)) (local.get $ix)) (local.get $cB))))
            (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
            (if (i32.eq (local.get $ox) (local.get $OW)) (then
              (local.set $ox (i32.const 0))
              (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
              (if (i32.eq (local.get $oy) (local.get $OH)) (then
                (local.set $oy (i32.const 0))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rl)))
          (if (i32.eqz (local.get $inside)) (then
            ;; this tile's slot of tb: rows q - p0 on
            (local.set $ptr (i32.add (local.get $tb) (i32.mul (i32.sub (local.get $q) (local.get $p0)) (local.get $kB))))
            (call $im2col_walk (local.get $x) (local.get $xEnd) (local.get $ptr) (local.get $kB) (local.get $q) (local.get $m) (i32.const 0)
              (local.get $H) (local.get $W) (local.get $C) (local.get $OH) (local.get $OW)
              (local.get $FH) (local.get $FW) (local.get $sh) (local.get $sw) (local.get $top) (local.get $left))
            (local.set $r (i32.const 0))
            (block $bdone (loop $bl
              (br_if $bdone (i32.ge_u (local.get $r) (local.get $m)))
              (i32.store (i32.add (local.get $e) (i32.shl (local.get $r) (i32.const 2))) (i32.add (local.get $ptr) (i32.mul (local.get $r) (local.get $kB))))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br $bl)))))
          ;; rows past m repeat the last one
          (block $pdone (loop $pl
            (br_if $pdone (i32.ge_u (local.get $r) (i32.const 4)))
            (i32.store (i32.add (local.get $e) (i32.shl (local.get $r) (i32.const 2))) (i32.load (i32.add (local.get $e) (i32.shl (i32.sub (local.get $m) (i32.const 1)) (i32.const 2)))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $pl)))
          (i32.store offset=16 (local.get $e) (local.get $inside))
          (local.set $e (i32.add (local.get $e) (i32.const 20)))
          (local.set $q (i32.add (local.get $q) (local.get $m)))
          (br $q1l)))))
    ;; pass 2: panel by panel, every tile
    (local.set $panel (local.get $bp))
    (block $jdone (loop $jl
      (br_if $jdone (i32.ge_u (local.get $j) (local.get $N)))
      (local.set $w (i32.sub (local.get $N) (local.get $j)))
      (if (i32.and (local.get $flags) (i32.const 1))
        (then
          (local.set $b0 (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
          (local.set $b1 (v128.load offset=16 (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))
        (else
          (local.set $b0 (v128.const i32x4 0 0 0 0))
          (local.set $b1 (v128.const i32x4 0 0 0 0))))
      (local.set $q (local.get $p0))
      (local.set $e (local.get $tbl))
      (block $q2done (loop $q2l
        (br_if $q2done (i32.ge_u (local.get $q) (local.get $end)))
        ;; a tile's pixels: four, or those left (a pool window is one tile of four)
        (local.set $m (i32.sub (local.get $end) (local.get $q)))
        (if (i32.gt_u (local.get $m) (i32.const 4)) (then (local.set $m (i32.const 4))))
        (if (local.get $pool) (then (local.set $m (i32.const 4))))
        (local.set $inside (i32.load offset=16 (local.get $e)))
        (local.set $nseg (select (local.get $FH) (i32.const 1) (local.get $inside)))
        (local.set $runB (select (local.get $segB) (local.get $kB) (local.get $inside)))
        (local.set $c0 (local.get $b0)) (local.set $c1 (local.get $b1))
        (local.set $c2 (local.get $b0)) (local.set $c3 (local.get $b1))
        (local.set $c4 (local.get $b0)) (local.set $c5 (local.get $b1))
        (local.set $c6 (local.get $b0)) (local.set $c7 (local.get $b1))
        (local.set $pp (local.get $panel))
        (local.set $x0 (i32.load (local.get $e)))
        (local.set $x1 (i32.load offset=4 (local.get $e)))
        (local.set $x2 (i32.load offset=8 (local.get $e)))
        (local.set $x3 (i32.load offset=12 (local.get $e)))
        (local.set $sg (i32.const 0))
        (block $sdone (loop $sl
          (br_if $sdone (i32.ge_u (local.get $sg) (local.get $nseg)))
          (local.set $kk (i32.const 0))
          (block $kdone (loop $kl
            (br_if $kdone (i32.ge_u (local.get $kk) (local.get $runB)))
            (local.set $w0 (v128.load (local.get $pp)))
            (local.set $w1 (v128.load offset=16 (local.get $pp)))
            (local.set $s (v128.load32_splat (i32.add (local.get $x0) (local.get $kk))))
            (local.set $c0 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $c0)))
            (local.set $c1 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $c1)))
            (local.set $s (v128.load32_splat (i32.add (local.get $x1) (local.get $kk))))
            (local.set $c2 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $c2)))
            (local.set $c3 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $c3)))
            (local.set $s (v128.load32_splat (i32.add (local.get $x2) (local.get $kk))))
            (local.set $c4 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $c4)))
            (local.set $c5 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $c5)))
            (local.set $s (v128.load32_splat (i32.add (local.get $x3) (local.get $kk))))
            (local.set $c6 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $c6)))
            (local.set $c7 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $c7)))
            (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
            (br $kl)))
          (local.set $x0 (i32.add (local.get $x0) (local.get $rowB)))
          (local.set $x1 (i32.add (local.get $x1) (local.get $rowB)))
          (local.set $x2 (i32.add (local.get $x2) (local.get $rowB)))
          (local.set $x3 (i32.add (local.get $x3) (local.get $rowB)))
          (local.set $sg (i32.add (local.get $sg) (i32.const 1)))
          (br $sl)))
        (if (i32.and (local.get $flags) (i32.const 2)) (then
          (local.set $z (v128.const i32x4 0 0 0 0))
          (local.set $c0 (f32x4.max (local.get $c0) (local.get $z))) (local.set $c1 (f32x4.max (local.get $c1) (local.get $z)))
          (local.set $c2 (f32x4.max (local.get $c2) (local.get $z))) (local.set $c3 (f32x4.max (local.get $c3) (local.get $z)))
          (local.set $c4 (f32x4.max (local.get $c4) (local.get $z))) (local.set $c5 (f32x4.max (local.get $c5) (local.get $z)))
          (local.set $c6 (f32x4.max (local.get $c6) (local.get $z))) (local.set $c7 (f32x4.max (local.get $c7) (local.get $z)))))
        (if (local.get $pool)
          (then
            ;; window q's channels j.. of the pooled output, and their bytes of arg
            (local.set $o (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $q) (local.get $N)) (local.get $j)) (i32.const 2))))
            (local.set $ao (i32.add (local.get $arg) (i32.add (i32.mul (local.get $q) (local.get $N)) (local.get $j))))
            ;; the maxima of the window's four pixels (c0, c2, c4, c6 and c1, c3, c5, c7: row-major)
            (local.set $m01 (f32x4.max (local.get $c0) (local.get $c2)))
            (local.set $m23 (f32x4.max (local.get $c4) (local.get $c6)))
            (local.set $s (f32x4.max (local.get $m01) (local.get $m23)))
            (v128.store (local.get $o) (local.get $s))
            (if (i32.eqz (i32.and (local.get $flags) (i32.const 4))) (then
              ;; routing bytes: the first pixel equal to the maximum, by a tournament that keeps the
              ;; earlier pixel on ties (gt: -0 and +0 tie, as f32x4.eq has them equal); a NaN maximum
              ;; (no pixel equal to it) is a miss
              (local.set $misses (i32.add (local.get $misses) (i32.popcnt (i32x4.bitmask (f32x4.ne (local.get $s) (local.get $s))))))
              (i32.store (local.get $ao) (i32x4.extract_lane 0 (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0
                (v128.bitselect
                  (i32x4.sub (v128.const i32x4 2 2 2 2) (f32x4.gt (local.get $c6) (local.get $c4)))
                  (i32x4.sub (v128.const i32x4 0 0 0 0) (f32x4.gt (local.get $c2) (local.get $c0)))
                  (f32x4.gt (local.get $m23) (local.get $m01)))
                (local.get $s))))))
            (if (i32.ge_u (local.get $w) (i32.const 8)) (then
              (local.set $m01 (f32x4.max (local.get $c1) (local.get $c3)))
              (local.set $m23 (f32x4.max (local.get $c5) (local.get $c7)))
              (local.set $s (f32x4.max (local.get $m01) (local.get $m23)))
              (v128.store offset=16 (local.get $o) (local.get $s))
              (if (i32.eqz (i32.and (local.get $flags) (i32.const 4))) (then
                (local.set $misses (i32.add (local.get $misses) (i32.popcnt (i32x4.bitmask (f32x4.ne (local.get $s) (local.get $s))))))
                (i32.store offset=4 (local.get $ao) (i32x4.extract_lane 0 (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0
                  (v128.bitselect
                    (i32x4.sub (v128.const i32x4 2 2 2 2) (f32x4.gt (local.get $c7) (local.get $c5)))
                    (i32x4.sub (v128.const i32x4 0 0 0 0) (f32x4.gt (local.get $c3) (local.get $c1)))
                    (f32x4.gt (local.get $m23) (local.get $m01)))
                  (local.get $s)))))))))
          (else
            (local.set $o (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $q) (local.get $N)) (local.get $j)) (i32.const 2))))
            (if (i32.and (i32.eq (local.get $m) (i32.const 4)) (i32.ge_u (local.get $w) (i32.const 8)))
              (then
                (v128.store (local.get $o) (local.get $c0)) (v128.store offset=16 (local.get $o) (local.get $c1))
                (local.set $o (i32.add (local.get $o) (local.get $ldc)))
                (v128.store (local.get $o) (local.get $c2)) (v128.store offset=16 (local.get $o) (local.get $c3))
                (local.set $o (i32.add (local.get $o) (local.get $ldc)))
                (v128.store (local.get $o) (local.get $c4)) (v128.store offset=16 (local.get $o) (local.get $c5))
                (local.set $o (i32.add (local.get $o) (local.get $ldc)))
                (v128.store (local.get $o) (local.get $c6)) (v128.store offset=16 (local.get $o) (local.get $c7)))
              (else
                (call $store_cols (local.get $o) (local.get $c0) (local.get $c1) (local.get $w))
                (if (i32.gt_u (local.get $m) (i32.const 1)) (then
                  (call $store_cols (i32.add (local.get $o) (local.get $ldc)) (local.get $c2) (local.get $c3) (local.get $w))))
                (if (i32.gt_u (local.get $m) (i32.const 2)) (then
                  (call $store_cols (i32.add (local.get $o) (i32.shl (local.get $ldc) (i32.const 1))) (local.get $c4) (local.get $c5) (local.get $w))))
                (if (i32.gt_u (local.get $m) (i32.const 3)) (then
                  (call $store_cols (i32.add (local.get $o) (i32.mul (local.get $ldc) (i32.const 3))) (local.get $c6) (local.get $c7) (local.get $w))))))))
        (local.set $e (i32.add (local.get $e) (i32.const 20)))
        (local.set $q (i32.add (local.get $q) (select (i32.const 1) (local.get $m) (local.get $pool))))
        (br $q2l)))
      (local.set $panel (i32.add (local.get $panel) (i32.shl (local.get $kB) (i32.const 3))))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $jl)))
    (local.get $misses))

  ;; Winograd F(2x2, 3x3) for 3x3 convolutions at stride 1 (conv-gemm.ts, conv2dWinograd).
  ;; A tile of 2x2 output pixels needs the 4x4 input pixels d under it. With
  ;;   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1],
  ;; the input transform is V = B^T d B, the product M = V (.) U with U = G g G^T the transformed
  ;; filter, summed over input channels (16 matrix products, one per position of the 4x4 tile), and
  ;; the output transform Y = A^T M A. Channels go four at a time; pointers are byte offsets.

  ;; V[xi][i][c] for tiles [t0, t0 + m) (tile t = (n, ty, tx), TH x TW tiles per image): the
  ;; input transform of the 4x4 pixels from row 2 ty - top, column 2 tx - left, zero outside the
  ;; image. V's planes (one per xi = 4 a + b) are planeB bytes apart, rows C floats; `pad` is 256
  ;; bytes of scratch for tiles that reach past the image. C a multiple of 4.
  (func $wino_input
    (param $x i32) (param $v i32) (param $planeB i32) (param $pad i32) (param $t0 i32) (param $m i32)
    (param $H i32) (param $W i32) (param $C i32) (param $TH i32) (param $TW i32) (param $top i32) (param $left i32)
    (local $i i32) (local $t i32) (local $n i32) (local $ty i32) (local $iy0 i32) (local $ix0 i32)
    (local $c i32) (local $base i32) (local $rowB i32) (local $colB i32) (local $inside i32) (local $out i32)
    (local $a i32) (local $b i32) (local $iy i32) (local $ix i32) (local $q i32)

    (local $r00 v128)
    (local $r01 v128)
    (local $r02 v128)
    (local $r03 v128)
    (local $r10 v128)
    (local $r11 v128)
    (local $r12 v128)
    (local $r13 v128)
    (local $r20 v128)
    (local $r21 v128)
    (local $r22 v128)
    (local $r23 v128)
    (local $r30 v128)
    (local $r31 v128)
    (local $r32 v128)
    (local $r33 v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $t (i32.add (local.get $t0) (local.get $i)))
      (local.set $n (i32.div_u (local.get $t) (i32.mul (local.get $TH) (local.get $TW))))
      (local.set $t (i32.rem_u (local.get $t) (i32.mul (local.get $TH) (local.get $TW))))
      (local.set $ty (i32.div_u (local.get $t) (local.get $TW)))
      (local.set $iy0 (i32.sub (i32.shl (local.get $ty) (i32.const 1)) (local.get $top)))
      (local.set $ix0 (i32.sub (i32.shl (i32.rem_u (local.get $t) (local.get $TW)) (i32.const 1)) (local.get $left)))
      (local.set $inside (i32.and
        (i32.and (i32.ge_s (local.get $iy0) (i32.const 0)) (i32.le_s (i32.add (local.get $iy0) (i32.const 4)) (local.get $H)))
        (i32.and (i32.ge_s (local.get $ix0) (i32.const 0)) (i32.le_s (i32.add (local.get $ix0) (i32.const 4)) (local.get $W)))))
      (local.set $c (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $C)))
        (if (local.get $inside)
          (then
            (local.set $base (i32.add (local.get $x) (i32.shl (i32.add
              (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $iy0)) (local.get $W)) (local.get $ix0)) (local.get $C))
              (local.get $c)) (i32.const 2))))
            (local.set $rowB (i32.shl (i32.mul (local.get $W) (local.get $C)) (i32.const 2)))
            (local.set $colB (i32.shl (local.get $C) (i32.const 2))))
          (else
            ;; the 4x4 pixels' four channels into pad, zero outside the image
            (local.set $a (i32.const 0))
            (block $adone (loop $al
              (br_if $adone (i32.ge_u (local.get $a) (i32.const 4)))
              (local.set $b (i32.const 0))
              (block $bdone (loop $bl
                (br_if $bdone (i32.ge_u (local.get $b) (i32.const 4)))
                (local.set $iy (i32.add (local.get $iy0) (local.get $a)))
                (local.set $ix (i32.add (local.get $ix0) (local.get $b)))
                (local.set $q (i32.add (local.get $pad) (i32.shl (i32.add (i32.shl (local.get $a) (i32.const 2)) (local.get $b)) (i32.const 4))))
                (if (i32.and (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (local.get $H)))
                             (i32.and (i32.ge_s (local.get $ix) (i32.const 0)) (i32.lt_s (local.get $ix) (local.get $W))))
                  (then (v128.store (local.get $q) (v128.load (i32.add (local.get $x) (i32.shl (i32.add
                    (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $iy)) (local.get $W)) (local.get $ix)) (local.get $C))
                    (local.get $c)) (i32.const 2))))))
                  (else (v128.store (local.get $q) (v128.const i32x4 0 0 0 0))))
                (local.set $b (i32.add (local.get $b) (i32.const 1)))
                (br $bl)))
              (local.set $a (i32.add (local.get $a) (i32.const 1)))
              (br $al)))
            (local.set $base (local.get $pad))
            (local.set $rowB (i32.const 64))
            (local.set $colB (i32.const 16))))
        ;; B^T d: each column b of the tile

        (local.set $d0 (v128.load (local.get $base)))
        (local.set $d1 (v128.load (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 1)))))
        (local.set $d2 (v128.load (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 2)))))
        (local.set $d3 (v128.load (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 3)))))
        (local.set $r00 (f32x4.sub (local.get $d0) (local.get $d2)))
        (local.set $r10 (f32x4.add (local.get $d1) (local.get $d2)))
        (local.set $r20 (f32x4.sub (local.get $d2) (local.get $d1)))
        (local.set $r30 (f32x4.sub (local.get $d1) (local.get $d3)))
        (local.set $d0 (v128.load (i32.add (local.get $base) (i32.mul (local.get $colB) (i32.const 1)))))
        (local.set $d1 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 1))) (i32.mul (local.get $colB) (i32.const 1)))))
        (local.set $d2 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 2))) (i32.mul (local.get $colB) (i32.const 1)))))
        (local.set $d3 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 3))) (i32.mul (local.get $colB) (i32.const 1)))))
        (local.set $r01 (f32x4.sub (local.get $d0) (local.get $d2)))
        (local.set $r11 (f32x4.add (local.get $d1) (local.get $d2)))
        (local.set $r21 (f32x4.sub (local.get $d2) (local.get $d1)))
        (local.set $r31 (f32x4.sub (local.get $d1) (local.get $d3)))
        (local.set $d0 (v128.load (i32.add (local.get $base) (i32.mul (local.get $colB) (i32.const 2)))))
        (local.set $d1 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 1))) (i32.mul (local.get $colB) (i32.const 2)))))
        (local.set $d2 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 2))) (i32.mul (local.get $colB) (i32.const 2)))))
        (local.set $d3 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 3))) (i32.mul (local.get $colB) (i32.const 2)))))
        (local.set $r02 (f32x4.sub (local.get $d0) (local.get $d2)))
        (local.set $r12 (f32x4.add (local.get $d1) (local.get $d2)))
        (local.set $r22 (f32x4.sub (local.get $d2) (local.get $d1)))
        (local.set $r32 (f32x4.sub (local.get $d1) (local.get $d3)))
        (local.set $d0 (v128.load (i32.add (local.get $base) (i32.mul (local.get $colB) (i32.const 3)))))
        (local.set $d1 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 1))) (i32.mul (local.get $colB) (i32.const 3)))))
        (local.set $d2 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 2))) (i32.mul (local.get $colB) (i32.const 3)))))
        (local.set $d3 (v128.load (i32.add (i32.add (local.get $base) (i32.mul (local.get $rowB) (i32.const 3))) (i32.mul (local.get $colB) (i32.const 3)))))
        (local.set $r03 (f32x4.sub (local.get $d0) (local.get $d2)))
        (local.set $r13 (f32x4.add (local.get $d1) (local.get $d2)))
        (local.set $r23 (f32x4.sub (local.get $d2) (local.get $d1)))
        (local.set $r33 (f32x4.sub (local.get $d1) (local.get $d3)))
        ;; (B^T d) B: each row a, stored at V[4 a + b][i][c]
        (local.set $out (i32.add (local.get $v) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $C)) (local.get $c)) (i32.const 2))))
        (v128.store (local.get $out) (f32x4.sub (local.get $r00) (local.get $r02)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 1))) (f32x4.add (local.get $r01) (local.get $r02)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 2))) (f32x4.sub (local.get $r02) (local.get $r01)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 3))) (f32x4.sub (local.get $r01) (local.get $r03)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 4))) (f32x4.sub (local.get $r10) (local.get $r12)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 5))) (f32x4.add (local.get $r11) (local.get $r12)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 6))) (f32x4.sub (local.get $r12) (local.get $r11)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 7))) (f32x4.sub (local.get $r11) (local.get $r13)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 8))) (f32x4.sub (local.get $r20) (local.get $r22)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 9))) (f32x4.add (local.get $r21) (local.get $r22)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 10))) (f32x4.sub (local.get $r22) (local.get $r21)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 11))) (f32x4.sub (local.get $r21) (local.get $r23)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 12))) (f32x4.sub (local.get $r30) (local.get $r32)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 13))) (f32x4.add (local.get $r31) (local.get $r32)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 14))) (f32x4.sub (local.get $r32) (local.get $r31)))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $planeB) (i32.const 15))) (f32x4.sub (local.get $r31) (local.get $r33)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $cl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  ;; y = act(A^T M A + bias) for tiles [t0, t0 + m): M[xi][i][co] in planes planeB bytes apart,
  ;; rows N floats; the 2x2 pixels of tile (n, ty, tx) at rows 2 ty, 2 ty + 1 and columns 2 tx,
  ;; 2 tx + 1 of y [n, OH, OW, N], those inside. flags: 1 adds the bias, 2 applies relu
  ;; (f32x4.max: a NaN stays a NaN). N a multiple of 4.
  (func $wino_output
    (param $mb i32) (param $planeB i32) (param $y i32) (param $bias i32) (param $flags i32) (param $t0 i32) (param $m i32)
    (param $N i32) (param $OH i32) (param $OW i32) (param $TH i32) (param $TW i32)
    (local $i i32) (local $t i32) (local $n i32) (local $oy i32) (local $ox i32) (local $co i32) (local $src i32)
    (local $p i32) (local $rowB i32) (local $colB i32) (local $right i32) (local $below i32)
    (local $bv v128) (local $zero v128) (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local $s00 v128) (local $s01 v128) (local $s02 v128) (local $s03 v128)
    (local $s10 v128) (local $s11 v128) (local $s12 v128) (local $s13 v128)
    (local $y00 v128) (local $y01 v128) (local $y10 v128) (local $y11 v128)
    (local.set $rowB (i32.shl (i32.mul (local.get $OW) (local.get $N)) (i32.const 2)))
    (local.set $colB (i32.shl (local.get $N) (i32.const 2)))
    (block $idone (loop $il
      (br_if $idone (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $t (i32.add (local.get $t0) (local.get $i)))
      (local.set $n (i32.div_u (local.get $t) (i32.mul (local.get $TH) (local.get $TW))))
      (local.set $t (i32.rem_u (local.get $t) (i32.mul (local.get $TH) (local.get $TW))))
      (local.set $oy (i32.shl (i32.div_u (local.get $t) (local.get $TW)) (i32.const 1)))
      (local.set $ox (i32.shl (i32.rem_u (local.get $t) (local.get $TW)) (i32.const 1)))
      (local.set $right (i32.lt_u (i32.add (local.get $ox) (i32.const 1)) (local.get $OW)))
      (local.set $below (i32.lt_u (i32.add (local.get $oy) (i32.const 1)) (local.get $OH)))
      (local.set $co (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_u (local.get $co) (local.get $N)))
        (local.set $src (i32.add (local.get $mb) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $N)) (local.get $co)) (i32.const 2))))

        (local.set $m0 (v128.load (local.get $src)))
        (local.set $m1 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 4)))))
        (local.set $m2 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 8)))))
        (local.set $m3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 12)))))
        (local.set $s00 (f32x4.add (f32x4.add (local.get $m0) (local.get $m1)) (local.get $m2)))
        (local.set $s10 (f32x4.sub (f32x4.sub (local.get $m1) (local.get $m2)) (local.get $m3)))
        (local.set $m0 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 1)))))
        (local.set $m1 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 5)))))
        (local.set $m2 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 9)))))
        (local.set $m3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 13)))))
        (local.set $s01 (f32x4.add (f32x4.add (local.get $m0) (local.get $m1)) (local.get $m2)))
        (local.set $s11 (f32x4.sub (f32x4.sub (local.get $m1) (local.get $m2)) (local.get $m3)))
        (local.set $m0 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 2)))))
        (local.set $m1 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 6)))))
        (local.set $m2 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 10)))))
        (local.set $m3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 14)))))
        (local.set $s02 (f32x4.add (f32x4.add (local.get $m0) (local.get $m1)) (local.get $m2)))
        (local.set $s12 (f32x4.sub (f32x4.sub (local.get $m1) (local.get $m2)) (local.get $m3)))
        (local.set $m0 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 3)))))
        (local.set $m1 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 7)))))
        (local.set $m2 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 11)))))
        (local.set $m3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $planeB) (i32.const 15)))))
        (local.set $s03 (f32x4.add (f32x4.add (local.get $m0) (local.get $m1)) (local.get $m2)))
        (local.set $s13 (f32x4.sub (f32x4.sub (local.get $m1) (local.get $m2)) (local.get $m3)))
        (local.set $y00 (f32x4.add (f32x4.add (local.get $s00) (local.get $s01)) (local.get $s02)))
        (local.set $y01 (f32x4.sub (f32x4.sub (local.get $s01) (local.get $s02)) (local.get $s03)))
        (local.set $y10 (f32x4.add (f32x4.add (local.get $s10) (local.get $s11)) (local.get $s12)))
        (local.set $y11 (f32x4.sub (f32x4.sub (local.get $s11) (local.get $s12)) (local.get $s13)))
        (if (i32.and (local.get $flags) (i32.const 1)) (then
          (local.set $bv (v128.load (i32.add (local.get $bias) (i32.shl (local.get $co) (i32.const 2)))))
          (local.set $y00 (f32x4.add (local.get $y00) (local.get $bv)))
          (local.set $y01 (f32x4.add (local.get $y01) (local.get $bv)))
          (local.set $y10 (f32x4.add (local.get $y10) (local.get $bv)))
          (local.set $y11 (f32x4.add (local.get $y11) (local.get $bv)))))
        (if (i32.and (local.get $flags) (i32.const 2)) (then
          (local.set $y00 (f32x4.max (local.get $y00) (local.get $zero)))
          (local.set $y01 (f32x4.max (local.get $y01) (local.get $zero)))
          (local.set $y10 (f32x4.max (local.get $y10) (local.get $zero)))
          (local.set $y11 (f32x4.max (local.get $y11) (local.get $zero)))))
        (local.set $p (i32.add (local.get $y) (i32.shl (i32.add
          (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $OH)) (local.get $oy)) (local.get $OW)) (local.get $ox)) (local.get $N))
          (local.get $co)) (i32.const 2))))
        (v128.store (local.get $p) (local.get $y00))
        (if (local.get $right) (then (v128.store (i32.add (local.get $p) (local.get $colB)) (local.get $y01))))
        (if (local.get $below) (then
          (v128.store (i32.add (local.get $p) (local.get $rowB)) (local.get $y10))
          (if (local.get $right) (then (v128.store (i32.add (i32.add (local.get $p) (local.get $rowB)) (local.get $colB)) (local.get $y11))))))
        (local.set $co (i32.add (local.get $co) (i32.const 4)))
        (br $cl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  ;; The convolution by Winograd F(2x2, 3x3) over tiles [t0, t1), in blocks of m tiles: each
  ;; block's input transform into V (16 planes of m x C floats at `buf`), its 16 products with the
  ;; transformed filter (16 panels packed by pack_b at `u`, round8(N) C floats apart) into M (16
  ;; planes of m x N after V), then its output transform into y; 256 bytes after M are scratch for
  ;; tiles at the image's edge. Blocks are independent: threads can take different tile ranges.
  (func (export "winograd")
    (param $x i32) (param $buf i32) (param $u i32) (param $bias i32) (param $y i32) (param $flags i32)
    (param $t0 i32) (param $t1 i32) (param $m i32)
    (param $H i32) (param $W i32) (param $C i32) (param $N i32) (param $OH i32) (param $OW i32)
    (param $TH i32) (param $TW i32) (param $top i32) (param $left i32)
    (local $mb i32) (local $pad i32) (local $vPlane i32) (local $mPlane i32) (local $uPanel i32) (local $rows i32) (local $xi i32)
    (local.set $vPlane (i32.shl (i32.mul (local.get $m) (local.get $C)) (i32.const 2)))
    (local.set $mPlane (i32.shl (i32.mul (local.get $m) (local.get $N)) (i32.const 2)))
    (local.set $mb (i32.add (local.get $buf) (i32.shl (local.get $vPlane) (i32.const 4))))
    (local.set $pad (i32.add (local.get $mb) (i32.shl (local.get $mPlane) (i32.const 4))))
    (local.set $uPanel (i32.shl (i32.mul (i32.and (i32.add (local.get $N) (i32.const 7)) (i32.const -8)) (local.get $C)) (i32.const 2)))
    (block $done (loop $bl
      (br_if $done (i32.ge_u (local.get $t0) (local.get $t1)))
      (local.set $rows (i32.sub (local.get $t1) (local.get $t0)))
      (if (i32.gt_u (local.get $rows) (local.get $m)) (then (local.set $rows (local.get $m))))
      (call $wino_input (local.get $x) (local.get $buf) (local.get $vPlane) (local.get $pad) (local.get $t0) (local.get $rows)
        (local.get $H) (local.get $W) (local.get $C) (local.get $TH) (local.get $TW) (local.get $top) (local.get $left))
      (local.set $xi (i32.const 0))
      (block $xdone (loop $xl
        (br_if $xdone (i32.ge_u (local.get $xi) (i32.const 16)))
        (call $gemm
          (i32.add (local.get $buf) (i32.mul (local.get $xi) (local.get $vPlane))) (i32.shl (local.get $C) (i32.const 2))
          (i32.add (local.get $u) (i32.mul (local.get $xi) (local.get $uPanel))) (i32.const 0)
          (i32.add (local.get $mb) (i32.mul (local.get $xi) (local.get $mPlane))) (i32.shl (local.get $N) (i32.const 2))
          (local.get $rows) (local.get $C) (local.get $N) (i32.const 0))
        (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
        (br $xl)))
      (call $wino_output (local.get $mb) (local.get $mPlane) (local.get $y) (local.get $bias) (local.get $flags) (local.get $t0) (local.get $rows)
        (local.get $N) (local.get $OH) (local.get $OW) (local.get $TH) (local.get $TW))
      (local.set $t0 (i32.add (local.get $t0) (local.get $m)))
      (br $bl))))

  ;; U = G g G^T for every (ci, co) of the filter g [3, 3, C, N], written straight into the 16
  ;; panels gemm reads (pack_b's layout: for panel j of 8 columns, row ci's 8 floats; panels of a
  ;; position xi round8(N) C floats apart, xi = 4 a + b). Each value is rounded in one fixed order:
  ;; G's rows give p, ((p + q) + r) / 2, ((p - q) + r) / 2, r. N a multiple of 4; when N mod 8 is 4
  ;; the last panel's upper half is zero.
  (func (export "wino_filter") (param $g i32) (param $u i32) (param $C i32) (param $N i32)
    (local $ci i32) (local $co i32) (local $src i32) (local $dst i32) (local $plane i32) (local $tapB i32)
    (local $p v128) (local $q v128) (local $r v128) (local $half v128)
    (local $c00 v128)
    (local $c01 v128)
    (local $c02 v128)
    (local $c03 v128)
    (local $c10 v128)
    (local $c11 v128)
    (local $c12 v128)
    (local $c13 v128)
    (local $c20 v128)
    (local $c21 v128)
    (local $c22 v128)
    (local $c23 v128)
    (local.set $half (f32x4.splat (f32.const 0.5)))
    (local.set $plane (i32.shl (i32.mul (i32.and (i32.add (local.get $N) (i32.const 7)) (i32.const -8)) (local.get $C)) (i32.const 2)))
    (local.set $tapB (i32.shl (i32.mul (local.get $C) (local.get $N)) (i32.const 2)))
    (block $cidone (loop $cil
      (br_if $cidone (i32.ge_u (local.get $ci) (local.get $C)))
      (local.set $co (i32.const 0))
      (block $codone (loop $col
        (br_if $codone (i32.ge_u (local.get $co) (local.get $N)))
        (local.set $src (i32.add (local.get $g) (i32.shl (i32.add (i32.mul (local.get $ci) (local.get $N)) (local.get $co)) (i32.const 2))))
        ;; G g: each filter column kw
        (local.set $p (v128.load (local.get $src))) (local.set $q (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 3))))) (local.set $r (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 6)))))
        (local.set $c00 (local.get $p))
        (local.set $c01 (f32x4.mul (f32x4.add (f32x4.add (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (local.set $c02 (f32x4.mul (f32x4.add (f32x4.sub (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (local.set $c03 (local.get $r))
        (local.set $p (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 1))))) (local.set $q (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 4))))) (local.set $r (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 7)))))
        (local.set $c10 (local.get $p))
        (local.set $c11 (f32x4.mul (f32x4.add (f32x4.add (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (local.set $c12 (f32x4.mul (f32x4.add (f32x4.sub (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (local.set $c13 (local.get $r))
        (local.set $p (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 2))))) (local.set $q (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 5))))) (local.set $r (v128.load (i32.add (local.get $src) (i32.mul (local.get $tapB) (i32.const 8)))))
        (local.set $c20 (local.get $p))
        (local.set $c21 (f32x4.mul (f32x4.add (f32x4.add (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (local.set $c22 (f32x4.mul (f32x4.add (f32x4.sub (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (local.set $c23 (local.get $r))
        ;; (G g) G^T: each row a, into the panels of positions 4 a .. 4 a + 3
        (local.set $dst (i32.add (local.get $u) (i32.shl (i32.add (i32.mul (i32.shr_u (local.get $co) (i32.const 3)) (i32.shl (local.get $C) (i32.const 3)))
          (i32.add (i32.shl (local.get $ci) (i32.const 3)) (i32.and (local.get $co) (i32.const 7)))) (i32.const 2))))
        (local.set $p (local.get $c00)) (local.set $q (local.get $c10)) (local.set $r (local.get $c20))
        (v128.store (local.get $dst) (local.get $p))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 1))) (f32x4.mul (f32x4.add (f32x4.add (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 2))) (f32x4.mul (f32x4.add (f32x4.sub (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 3))) (local.get $r))
        (local.set $p (local.get $c01)) (local.set $q (local.get $c11)) (local.set $r (local.get $c21))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 4))) (local.get $p))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 5))) (f32x4.mul (f32x4.add (f32x4.add (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 6))) (f32x4.mul (f32x4.add (f32x4.sub (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 7))) (local.get $r))
        (local.set $p (local.get $c02)) (local.set $q (local.get $c12)) (local.set $r (local.get $c22))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 8))) (local.get $p))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 9))) (f32x4.mul (f32x4.add (f32x4.add (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 10))) (f32x4.mul (f32x4.add (f32x4.sub (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 11))) (local.get $r))
        (local.set $p (local.get $c03)) (local.set $q (local.get $c13)) (local.set $r (local.get $c23))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 12))) (local.get $p))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 13))) (f32x4.mul (f32x4.add (f32x4.add (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 14))) (f32x4.mul (f32x4.add (f32x4.sub (local.get $p) (local.get $q)) (local.get $r)) (local.get $half)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 15))) (local.get $r))
        ;; the upper half of a last panel of 4 columns
        (if (i32.eq (i32.add (local.get $co) (i32.const 4)) (local.get $N)) (then
          (if (i32.and (local.get $N) (i32.const 4)) (then
            (v128.store offset=16 (local.get $dst) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 1))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 2))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 3))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 4))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 5))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 6))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 7))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 8))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 9))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 10))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 11))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 12))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 13))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 14))) (v128.const i32x4 0 0 0 0))
            (v128.store offset=16 (i32.add (local.get $dst) (i32.mul (local.get $plane) (i32.const 15))) (v128.const i32x4 0 0 0 0))
))))
        (local.set $co (i32.add (local.get $co) (i32.const 4)))
        (br $col)))
      (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
      (br $cil)))))
