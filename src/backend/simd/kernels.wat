;; kdq's SIMD kernels for the wasm backend. They run in tf.js' own linear memory (imported), so they
;; read and write tensors where they lie; every pointer is a byte offset into that memory.
;; Compiled by scripts/build-simd.ts into kernels-wasm.ts; a test checks the two stay in step.
(module
  (import "env" "memory" (memory 1))

  ;; One Adam step over n floats (tf.js' AdamOptimizer formula, in float32):
  ;;   m' = b1 m + a1 g;  v' = b2 v + a2 g^2;  w' = w + step m' / (sqrt(v' invC2) + eps)
  ;; with a1 = 1 - b1, a2 = 1 - b2, step = -lr / (1 - b1^t), invC2 = 1 / (1 - b2^t).
  (func (export "adam")
    (param $w i32) (param $g i32) (param $m i32) (param $v i32)
    (param $w2 i32) (param $m2 i32) (param $v2 i32) (param $n i32)
    (param $b1 f32) (param $b2 f32) (param $a1 f32) (param $a2 f32)
    (param $step f32) (param $invC2 f32) (param $eps f32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $B1 v128) (local $B2 v128) (local $A1 v128) (local $A2 v128)
    (local $S v128) (local $IC v128) (local $E v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $A1 (f32x4.splat (local.get $a1)))
    (local.set $A2 (f32x4.splat (local.get $a2)))
    (local.set $S (f32x4.splat (local.get $step)))
    (local.set $IC (f32x4.splat (local.get $invC2)))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $o))))
        (local.set $mv (f32x4.add
          (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $o))))
          (f32x4.mul (local.get $A1) (local.get $gv))))
        (local.set $vv (f32x4.add
          (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $o))))
          (f32x4.mul (local.get $A2) (f32x4.mul (local.get $gv) (local.get $gv)))))
        (v128.store (i32.add (local.get $m2) (local.get $o)) (local.get $mv))
        (v128.store (i32.add (local.get $v2) (local.get $o)) (local.get $vv))
        (v128.store (i32.add (local.get $w2) (local.get $o))
          (f32x4.add
            (v128.load (i32.add (local.get $w) (local.get $o)))
            (f32x4.div
              (f32x4.mul (local.get $S) (local.get $mv))
              (f32x4.add (f32x4.sqrt (f32x4.mul (local.get $vv) (local.get $IC))) (local.get $E)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
        (local.set $ms (f32.add
          (f32.mul (local.get $b1) (f32.load (i32.add (local.get $m) (local.get $o))))
          (f32.mul (local.get $a1) (local.get $gs))))
        (local.set $vs (f32.add
          (f32.mul (local.get $b2) (f32.load (i32.add (local.get $v) (local.get $o))))
          (f32.mul (local.get $a2) (f32.mul (local.get $gs) (local.get $gs)))))
        (f32.store (i32.add (local.get $m2) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $v2) (local.get $o)) (local.get $vs))
        (f32.store (i32.add (local.get $w2) (local.get $o))
          (f32.add
            (f32.load (i32.add (local.get $w) (local.get $o)))
            (f32.div
              (f32.mul (local.get $step) (local.get $ms))
              (f32.add (f32.sqrt (f32.mul (local.get $vs) (local.get $invC2))) (local.get $eps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; The backward pass of relu(z + bias) given its output y, for `rows` rows of C channels:
  ;;   dz = dy where y > 0, else 0;   db[c] = sum over rows of dz[., c]
  ;; C must be a multiple of 4 (the caller checks).
  (func (export "relu_bias_grad")
    (param $dy i32) (param $y i32) (param $dz i32) (param $db i32) (param $rows i32) (param $C i32)
    (local $r i32) (local $c i32) (local $rowBytes i32) (local $p i32) (local $q i32) (local $d v128)
    (local.set $rowBytes (i32.shl (local.get $C) (i32.const 2)))
    (memory.fill (local.get $db) (i32.const 0) (local.get $rowBytes))
    (block $rdone
      (loop $row
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $cdone
          (loop $col
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $rowBytes)))
            (local.set $p (i32.add (i32.mul (local.get $r) (local.get $rowBytes)) (local.get $c)))
            (local.set $d (v128.and
              (v128.load (i32.add (local.get $dy) (local.get $p)))
              (f32x4.gt (v128.load (i32.add (local.get $y) (local.get $p))) (f32x4.splat (f32.const 0)))))
            (v128.store (i32.add (local.get $dz) (local.get $p)) (local.get $d))
            (local.set $q (i32.add (local.get $db) (local.get $c)))
            (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q)) (local.get $d)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $col)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))

  ;; MaxPoolGrad for 2x2 windows at stride 2 with no padding, NHWC, C a multiple of 4. Each output
  ;; gradient goes to the first (row-major) input of its window equal to the window's maximum y, as
  ;; the cpu backend does; inputs outside every window get 0. Returns how many (window, channel)
  ;; pairs had no input equal to y (a NaN maximum): the caller then uses the general kernel.
  (func (export "max_pool_grad_2x2")
    (param $x i32) (param $y i32) (param $dy i32) (param $dx i32)
    (param $N i32) (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (result i32)
    (local $n i32) (local $oy i32) (local $ox i32) (local $c i32)
    (local $rowB i32) (local $pixB i32) (local $in i32) (local $out i32) (local $misses i32)
    (local $yv v128) (local $g v128) (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local $taken v128)
    (local.set $pixB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $rowB (i32.mul (local.get $W) (local.get $pixB)))
    (memory.fill (local.get $dx) (i32.const 0)
      (i32.mul (i32.mul (local.get $N) (local.get $H)) (local.get $rowB)))
    (block $ndone
      (loop $nl
        (br_if $ndone (i32.ge_u (local.get $n) (local.get $N)))
        (local.set $oy (i32.const 0))
        (block $ydone
          (loop $yl
            (br_if $ydone (i32.ge_u (local.get $oy) (local.get $OH)))
            (local.set $ox (i32.const 0))
            (block $xdone
              (loop $xl
                (br_if $xdone (i32.ge_u (local.get $ox) (local.get $OW)))
                (local.set $c (i32.const 0))
                (block $cdone
                  (loop $cl
                    (br_if $cdone (i32.ge_u (local.get $c) (local.get $pixB)))
                    ;; byte offset of input (n, 2 oy, 2 ox, c) and of output (n, oy, ox, c)
                    (local.set $in (i32.add
                      (i32.add
                        (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (i32.shl (local.get $oy) (i32.const 1))) (local.get $rowB))
                        (i32.mul (i32.shl (local.get $ox) (i32.const 1)) (local.get $pixB)))
                      (local.get $c)))
                    (local.set $out (i32.add
                      (i32.mul
                        (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $OH)) (local.get $oy)) (local.get $OW)) (local.get $ox))
                        (local.get $pixB))
                      (local.get $c)))
                    (local.set $yv (v128.load (i32.add (local.get $y) (local.get $out))))
                    (local.set $g (v128.load (i32.add (local.get $dy) (local.get $out))))
                    (local.set $m0 (f32x4.eq (v128.load (i32.add (local.get $x) (local.get $in))) (local.get $yv)))
                    (local.set $taken (local.get $m0))
                    (local.set $m1 (v128.andnot
                      (f32x4.eq (v128.load (i32.add (local.get $x) (i32.add (local.get $in) (local.get $pixB)))) (local.get $yv))
                      (local.get $taken)))
                    (local.set $taken (v128.or (local.get $taken) (local.get $m1)))
                    (local.set $m2 (v128.andnot
                      (f32x4.eq (v128.load (i32.add (local.get $x) (i32.add (local.get $in) (local.get $rowB)))) (local.get $yv))
                      (local.get $taken)))
                    (local.set $taken (v128.or (local.get $taken) (local.get $m2)))
                    (local.set $m3 (v128.andnot
                      (f32x4.eq
                        (v128.load (i32.add (local.get $x) (i32.add (local.get $in) (i32.add (local.get $rowB) (local.get $pixB)))))
                        (local.get $yv))
                      (local.get $taken)))
                    (local.set $taken (v128.or (local.get $taken) (local.get $m3)))
                    (local.set $misses (i32.add (local.get $misses)
                      (i32.popcnt (i32.xor (i32x4.bitmask (local.get $taken)) (i32.const 15)))))
                    (v128.store (i32.add (local.get $dx) (local.get $in)) (v128.and (local.get $g) (local.get $m0)))
                    (v128.store (i32.add (local.get $dx) (i32.add (local.get $in) (local.get $pixB))) (v128.and (local.get $g) (local.get $m1)))
                    (v128.store (i32.add (local.get $dx) (i32.add (local.get $in) (local.get $rowB))) (v128.and (local.get $g) (local.get $m2)))
                    (v128.store (i32.add (local.get $dx) (i32.add (local.get $in) (i32.add (local.get $rowB) (local.get $pixB))))
                      (v128.and (local.get $g) (local.get $m3)))
                    (local.set $c (i32.add (local.get $c) (i32.const 16)))
                    (br $cl)))
                (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
                (br $xl)))
            (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
            (br $yl)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $nl)))
    (local.get $misses))

  ;; Conv2DBackpropFilter, NHWC, dilation 1, Cout a multiple of 4:
  ;;   dw[kh, kw, ci, co] = sum over (n, oy, ox) of x[n, oy sh - top + kh, ox sw - left + kw, ci] dy[n, oy, ox, co]
  ;; Taps in the padding and inputs equal to 0 (most MNIST pixels, about half of relu outputs)
  ;; contribute nothing and are skipped.
  (func (export "conv2d_filter_grad")
    (param $x i32) (param $dy i32) (param $dw i32)
    (param $N i32) (param $H i32) (param $W i32) (param $Cin i32)
    (param $OH i32) (param $OW i32) (param $Cout i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $n i32) (local $oy i32) (local $ox i32) (local $kh i32) (local $kw i32) (local $ci i32)
    (local $iy i32) (local $ix i32) (local $c i32) (local $coutB i32) (local $dyRow i32) (local $xPix i32)
    (local $wRow i32) (local $xv f32) (local $xs v128) (local $q i32)
    (local.set $coutB (i32.shl (local.get $Cout) (i32.const 2)))
    (memory.fill (local.get $dw) (i32.const 0)
      (i32.mul (i32.mul (i32.mul (local.get $FH) (local.get $FW)) (local.get $Cin)) (local.get $coutB)))
    (local.set $dyRow (local.get $dy))
    (block $ndone (loop $nl
      (br_if $ndone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $oy (i32.const 0))
      (block $ydone (loop $yl
        (br_if $ydone (i32.ge_u (local.get $oy) (local.get $OH)))
        (local.set $ox (i32.const 0))
        (block $xdone (loop $xl
          (br_if $xdone (i32.ge_u (local.get $ox) (local.get $OW)))
          (local.set $kh (i32.const 0))
          (block $khdone (loop $khl
            (br_if $khdone (i32.ge_s (local.get $kh) (local.get $FH)))
            (local.set $iy (i32.add (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $top)) (local.get $kh)))
            (if (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (local.get $H)))
              (then
                (local.set $kw (i32.const 0))
                (block $kwdone (loop $kwl
                  (br_if $kwdone (i32.ge_s (local.get $kw) (local.get $FW)))
                  (local.set $ix (i32.add (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $left)) (local.get $kw)))
                  (if (i32.and (i32.ge_s (local.get $ix) (i32.const 0)) (i32.lt_s (local.get $ix) (local.get $W)))
                    (then
                      ;; byte offsets of x[n, iy, ix, 0] and of dw[kh, kw, 0, 0]
                      (local.set $xPix (i32.add (local.get $x) (i32.shl
                        (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $iy)) (local.get $W)) (local.get $ix)) (local.get $Cin))
                        (i32.const 2))))
                      (local.set $wRow (i32.add (local.get $dw)
                        (i32.mul (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $FW)) (local.get $kw)) (local.get $Cin)) (local.get $coutB))))
                      (local.set $ci (i32.const 0))
                      (block $cidone (loop $cil
                        (br_if $cidone (i32.ge_u (local.get $ci) (local.get $Cin)))
                        (local.set $xv (f32.load (i32.add (local.get $xPix) (i32.shl (local.get $ci) (i32.const 2)))))
                        (if (f32.ne (local.get $xv) (f32.const 0))
                          (then
                            (local.set $xs (f32x4.splat (local.get $xv)))
                            (local.set $c (i32.const 0))
                            (block $cdone (loop $cl
                              (br_if $cdone (i32.ge_u (local.get $c) (local.get $coutB)))
                              (local.set $q (i32.add (local.get $wRow) (local.get $c)))
                              (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q))
                                (f32x4.mul (local.get $xs) (v128.load (i32.add (local.get $dyRow) (local.get $c))))))
                              (local.set $c (i32.add (local.get $c) (i32.const 16)))
                              (br $cl)))))
                        (local.set $wRow (i32.add (local.get $wRow) (local.get $coutB)))
                        (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
                        (br $cil)))))
                  (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
                  (br $kwl)))))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $khl)))
          (local.set $dyRow (i32.add (local.get $dyRow) (local.get $coutB)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $xl)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $yl)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nl))))
)
