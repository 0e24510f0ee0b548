;; kdq's SIMD kernels for the wasm backend. They run in tf.js' own linear memory (imported), so they
;; read and write tensors where they lie; every pointer is a byte offset into that memory.
;; Compiled by scripts/build-simd.ts into kernels-wasm.ts; a test checks the two stay in step.
;; Multiply-accumulates are written f32x4.relaxed_madd: the build keeps them as fused multiply-add
;; (one rounding, where the CPU has FMA) in the `fma` module and lowers them to f32x4.mul then
;; f32x4.add in the `plain` one; the runtime takes `fma` when it validates (src/backend/simd/index.ts).
(module
  (import "env" "memory" (memory 1 65536))

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

  ;; MaxPool for 2x2 windows at stride 2 with no padding, NHWC, C a multiple of 4, over images
  ;; [0, N) of the slice at x (y likewise): y = the maximum of each window (f32x4.max: a NaN
  ;; propagates). The rows and columns past 2 OH and 2 OW, if any, are in no window.
  (func (export "max_pool_2x2")
    (param $x i32) (param $y i32) (param $N i32) (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (local $n i32) (local $oy i32) (local $ox i32) (local $c i32) (local $cB i32) (local $rowB i32) (local $row i32) (local $p i32) (local $o i32)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $rowB (i32.mul (local.get $W) (local.get $cB)))
    (local.set $o (local.get $y))
    (block $ndone (loop $nl
      (br_if $ndone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $oy (i32.const 0))
      (block $ydone (loop $yl
        (br_if $ydone (i32.ge_u (local.get $oy) (local.get $OH)))
        ;; x[n, 2 oy, 0, 0]
        (local.set $row (i32.add (local.get $x) (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (i32.shl (local.get $oy) (i32.const 1))) (local.get $rowB))))
        (local.set $ox (i32.const 0))
        (block $xdone (loop $xl
          (br_if $xdone (i32.ge_u (local.get $ox) (local.get $OW)))
          (local.set $p (i32.add (local.get $row) (i32.shl (i32.mul (local.get $ox) (local.get $cB)) (i32.const 1))))
          (local.set $c (i32.const 0))
          (block $cdone (loop $cl
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
            (v128.store (local.get $o) (f32x4.max
              (f32x4.max (v128.load (local.get $p)) (v128.load (i32.add (local.get $p) (local.get $cB))))
              (f32x4.max (v128.load (i32.add (local.get $p) (local.get $rowB))) (v128.load (i32.add (i32.add (local.get $p) (local.get $rowB)) (local.get $cB))))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $cl)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $xl)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $yl)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nl))))

  ;; MaxPool 2x2 at stride 2 as max_pool_2x2 (the same maxima, bit for bit), also writing for each
  ;; (window, channel) one byte at `arg` (windows in order, C bytes each): which input max_pool_grad_2x2
  ;; would route the gradient to, 0 to 3 in row-major order within the window (the first equal to
  ;; the maximum). Returns how many (window, channel) pairs had no input equal to their maximum (a
  ;; NaN): their byte is 0 and the caller must not use the bytes.
  (func (export "max_pool_2x2_arg")
    (param $x i32) (param $y i32) (param $arg i32) (param $N i32) (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (result i32)
    (local $n i32) (local $oy i32) (local $ox i32) (local $c i32) (local $cB i32) (local $rowB i32) (local $row i32) (local $p i32)
    (local $o i32) (local $a i32) (local $misses i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $yv v128)
    (local $m0 v128) (local $m1 v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $rowB (i32.mul (local.get $W) (local.get $cB)))
    (local.set $o (local.get $y))
    (local.set $a (local.get $arg))
    (block $ndone (loop $nl
      (br_if $ndone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $oy (i32.const 0))
      (block $ydone (loop $yl
        (br_if $ydone (i32.ge_u (local.get $oy) (local.get $OH)))
        (local.set $row (i32.add (local.get $x) (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (i32.shl (local.get $oy) (i32.const 1))) (local.get $rowB))))
        (local.set $ox (i32.const 0))
        (block $xdone (loop $xl
          (br_if $xdone (i32.ge_u (local.get $ox) (local.get $OW)))
          (local.set $p (i32.add (local.get $row) (i32.shl (i32.mul (local.get $ox) (local.get $cB)) (i32.const 1))))
          (local.set $c (i32.const 0))
          (block $cdone (loop $cl
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
            (local.set $x0 (v128.load (local.get $p)))
            (local.set $x1 (v128.load (i32.add (local.get $p) (local.get $cB))))
            (local.set $x2 (v128.load (i32.add (local.get $p) (local.get $rowB))))
            (local.set $x3 (v128.load (i32.add (i32.add (local.get $p) (local.get $rowB)) (local.get $cB))))
            (local.set $m0 (f32x4.max (local.get $x0) (local.get $x1)))
            (local.set $m1 (f32x4.max (local.get $x2) (local.get $x3)))
            (local.set $yv (f32x4.max (local.get $m0) (local.get $m1)))
            (v128.store (local.get $o) (local.get $yv))
            ;; a NaN maximum has no input equal to it: a miss
            (local.set $misses (i32.add (local.get $misses) (i32.popcnt (i32x4.bitmask (f32x4.ne (local.get $yv) (local.get $yv))))))
            ;; the first input equal to the maximum, by a tournament that keeps the earlier input on
            ;; ties (gt: -0 and +0 tie, as f32x4.eq has them equal); its low byte of each lane packed into one i32
            (i32.store (local.get $a) (i32x4.extract_lane 0 (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0
              (v128.bitselect
                (i32x4.sub (v128.const i32x4 2 2 2 2) (f32x4.gt (local.get $x3) (local.get $x2)))
                (i32x4.sub (v128.const i32x4 0 0 0 0) (f32x4.gt (local.get $x1) (local.get $x0)))
                (f32x4.gt (local.get $m1) (local.get $m0)))
              (local.get $yv))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (local.set $a (i32.add (local.get $a) (i32.const 4)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $cl)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $xl)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $yl)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nl)))
    (local.get $misses))

  ;; The backward pass of relu(z + bias) followed by a 2x2 max pool at stride 2 (KdqConvReluPool),
  ;; from the pool's output y, its routing bytes (max_pool_2x2_arg) and its output gradient dy, for
  ;; images [0, N) of H x W x C: dz = dy of the window at the input its byte names when that
  ;; window's maximum is > 0 (relu passed it), else 0 (and 0 outside every window). Exactly what
  ;; max_pool_grad_2x2 then relu_bias_grad compute, bit for bit; pooled_bias_grad gives db.
  (func (export "unpool_relu_grad")
    (param $dy i32) (param $y i32) (param $arg i32) (param $dz i32)
    (param $N i32) (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (local $n i32) (local $oy i32) (local $r i32) (local $ox i32) (local $s i32) (local $c i32) (local $cB i32)
    (local $win i32) (local $winA i32) (local $rowWin i32) (local $rowA i32) (local $q i32) (local $end i32)
    (local $pos v128) (local $zero v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $rowWin (local.get $dy))
    (local.set $rowA (local.get $arg))
    (block $ndone (loop $nl
      (br_if $ndone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $oy (i32.const 0))
      (block $ydone (loop $yl
        (br_if $ydone (i32.ge_u (local.get $oy) (local.get $OH)))
        ;; the window row's two input rows, in order
        (local.set $r (i32.const 0))
        (block $rdone (loop $rl
          (br_if $rdone (i32.ge_u (local.get $r) (i32.const 2)))
          (local.set $win (local.get $rowWin))
          (local.set $winA (local.get $rowA))
          (local.set $ox (i32.const 0))
          (block $xdone (loop $xl
            (br_if $xdone (i32.ge_u (local.get $ox) (local.get $OW)))
            (local.set $s (i32.const 0))
            (block $sdone (loop $sl
              (br_if $sdone (i32.ge_u (local.get $s) (i32.const 2)))
              (local.set $pos (i32x4.splat (i32.add (i32.shl (local.get $r) (i32.const 1)) (local.get $s))))
              (local.set $c (i32.const 0))
              (block $cdone (loop $cl
                (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
                (local.set $q (i32.add (local.get $win) (local.get $c)))
                (v128.store (i32.add (local.get $dz) (local.get $c)) (v128.and (v128.load (local.get $q))
                  (v128.and
                    (i32x4.eq (local.get $pos) (i8x16.shuffle 0 16 16 16 1 16 16 16 2 16 16 16 3 16 16 16
                      (v128.load32_zero (i32.add (local.get $winA) (i32.shr_u (local.get $c) (i32.const 2)))) (local.get $zero)))
                    (f32x4.gt (v128.load (i32.add (local.get $y) (i32.sub (local.get $q) (local.get $dy)))) (local.get $zero)))))
                (local.set $c (i32.add (local.get $c) (i32.const 16)))
                (br $cl)))
              (local.set $dz (i32.add (local.get $dz) (local.get $cB)))
              (local.set $s (i32.add (local.get $s) (i32.const 1)))
              (br $sl)))
            (local.set $win (i32.add (local.get $win) (local.get $cB)))
            (local.set $winA (i32.add (local.get $winA) (local.get $C)))
            (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
            (br $xl)))
          ;; a last column in no window: zeros
          (local.set $end (i32.add (local.get $dz) (i32.mul (i32.sub (local.get $W) (i32.shl (local.get $OW) (i32.const 1))) (local.get $cB))))
          (memory.fill (local.get $dz) (i32.const 0) (i32.sub (local.get $end) (local.get $dz)))
          (local.set $dz (local.get $end))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rl)))
        (local.set $rowWin (local.get $win))
        (local.set $rowA (local.get $winA))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $yl)))
      ;; a last row in no window: zeros
      (local.set $end (i32.add (local.get $dz) (i32.mul (i32.mul (i32.sub (local.get $H) (i32.shl (local.get $OH) (i32.const 1))) (local.get $W)) (local.get $cB))))
      (memory.fill (local.get $dz) (i32.const 0) (i32.sub (local.get $end) (local.get $dz)))
      (local.set $dz (local.get $end))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nl))))

  ;; db[c] = the sum of unpool_relu_grad's dz[., c] over every input pixel in row-major order, from
  ;; the pooled values alone (db zeroed by the caller): dz is nonzero only at each window's routed
  ;; input, so for each row of windows the inputs in its first row (bytes 0 and 1) come first, in
  ;; window order, then those in its second row (bytes 2 and 3). The zeros left out leave the sum as
  ;; it is: a sum that starts at +0 is never -0, and adding a zero to anything else changes nothing.
  ;; relu_bias_grad's sums over the whole of dz, bit for bit.
  (func (export "pooled_bias_grad")
    (param $dy i32) (param $y i32) (param $arg i32) (param $db i32) (param $N i32) (param $C i32) (param $OH i32) (param $OW i32)
    (local $rows i32) (local $row i32) (local $half i32) (local $ox i32) (local $c i32) (local $cB i32)
    (local $win i32) (local $winA i32) (local $q i32) (local $a v128) (local $zero v128) (local $bit v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $rows (i32.mul (local.get $N) (local.get $OH)))
    (block $rowdone (loop $rowl
      (br_if $rowdone (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $half (i32.const 0))
      (block $hdone (loop $hl
        (br_if $hdone (i32.ge_u (local.get $half) (i32.const 2)))
        ;; bytes 0 and 1 in the first pass, 2 and 3 in the second: bit 1 of the byte is the row
        (local.set $bit (i32x4.splat (i32.shl (local.get $half) (i32.const 1))))
        (local.set $win (i32.mul (i32.mul (local.get $row) (local.get $OW)) (local.get $cB)))
        (local.set $winA (i32.add (local.get $arg) (i32.shr_u (local.get $win) (i32.const 2))))
        (local.set $ox (i32.const 0))
        (block $xdone (loop $xl
          (br_if $xdone (i32.ge_u (local.get $ox) (local.get $OW)))
          (local.set $c (i32.const 0))
          (block $cdone (loop $cl
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
            (local.set $q (i32.add (local.get $win) (local.get $c)))
            (local.set $a (i8x16.shuffle 0 16 16 16 1 16 16 16 2 16 16 16 3 16 16 16
              (v128.load32_zero (i32.add (local.get $winA) (i32.shr_u (local.get $c) (i32.const 2)))) (local.get $zero)))
            (local.set $a (v128.and (v128.load (i32.add (local.get $dy) (local.get $q)))
              (v128.and (i32x4.eq (v128.and (local.get $a) (v128.const i32x4 2 2 2 2)) (local.get $bit))
                (f32x4.gt (v128.load (i32.add (local.get $y) (local.get $q))) (local.get $zero)))))
            (local.set $q (i32.add (local.get $db) (local.get $c)))
            (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q)) (local.get $a)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $cl)))
          (local.set $win (i32.add (local.get $win) (local.get $cB)))
          (local.set $winA (i32.add (local.get $winA) (local.get $C)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $xl)))
        (local.set $half (i32.add (local.get $half) (i32.const 1)))
        (br $hl)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowl))))

  ;; MaxPoolGrad for 2x2 windows at stride 2 with no padding, NHWC, C a multiple of 4. Each output
  ;; gradient goes to the first (row-major) input of its window equal to the window's maximum y, as
  ;; the cpu backend does; inputs outside every window get 0. Returns how many (window, channel)
  ;; pairs had no input equal to y (a NaN maximum): the caller then uses the general kernel.
  ;; dx is zeroed first only when some input lies in no window (an odd H or W): otherwise every
  ;; input is stored below, and a fill would write the whole of dx twice.
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
    (if (i32.or (i32.ne (local.get $H) (i32.shl (local.get $OH) (i32.const 1)))
                (i32.ne (local.get $W) (i32.shl (local.get $OW) (i32.const 1))))
      (then (memory.fill (local.get $dx) (i32.const 0)
        (i32.mul (i32.mul (local.get $N) (local.get $H)) (local.get $rowB)))))
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

  ;; A dense layer's forward pass, out[M, N] = act(x[M, K] w[K, N] + b[N]), row-major, N a multiple
  ;; of 8; act 1 is relu, 0 linear. XNNPACK's fully-connected operator packs w into its own layout
  ;; when it is created, and since every optimizer step gives w a new buffer it created one and
  ;; repacked the teacher's 692k-weight kernel on every training step (5.7 ms against 1.5 ms with
  ;; w already packed). Here each block of 8 columns is copied once into `pack` (K x 8 floats,
  ;; contiguous in k), then tiles of 4 rows x 8 columns stream it with 8 accumulators in registers;
  ;; rows left over go one at a time. Accumulators start at the bias; f32x4.max keeps NaN a NaN.
  (func (export "dense_forward")
    (param $x i32) (param $w i32) (param $b i32) (param $out i32) (param $pack i32)
    (param $M i32) (param $K i32) (param $N i32) (param $n0 i32) (param $n1 i32) (param $relu i32)
    (local $nB i32) (local $kB i32) (local $j i32) (local $jEnd i32) (local $r i32) (local $kk i32) (local $wp i32) (local $pp i32) (local $pEnd i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $o i32)
    (local $b0 v128) (local $b1 v128) (local $w0 v128) (local $w1 v128) (local $s v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $nB (i32.shl (local.get $N) (i32.const 2)))
    (local.set $kB (i32.shl (local.get $K) (i32.const 2)))
    (local.set $pEnd (i32.add (local.get $pack) (i32.shl (local.get $K) (i32.const 5))))
    ;; columns [n0, n1) only (N is the row length): each thread of a split takes whole 8-column blocks
    (local.set $j (i32.shl (local.get $n0) (i32.const 2)))
    (local.set $jEnd (i32.shl (local.get $n1) (i32.const 2)))
    (block $jdone (loop $jl
      (br_if $jdone (i32.ge_u (local.get $j) (local.get $jEnd)))
      ;; pack columns j..j+7 of w: pack[k] = w[k, j..j+7]
      (local.set $wp (i32.add (local.get $w) (local.get $j)))
      (local.set $pp (local.get $pack))
      (block $pdone (loop $pl
        (br_if $pdone (i32.ge_u (local.get $pp) (local.get $pEnd)))
        (v128.store (local.get $pp) (v128.load (local.get $wp)))
        (v128.store offset=16 (local.get $pp) (v128.load offset=16 (local.get $wp)))
        (local.set $wp (i32.add (local.get $wp) (local.get $nB)))
        (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
        (br $pl)))
      (local.set $b0 (v128.load (i32.add (local.get $b) (local.get $j))))
      (local.set $b1 (v128.load (i32.add (local.get $b) (i32.add (local.get $j) (i32.const 16)))))
      (local.set $r (i32.const 0))
      ;; four rows at a time
      (block $r4done (loop $r4l
        (br_if $r4done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $M)))
        (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $kB))))
        (local.set $x1 (i32.add (local.get $x0) (local.get $kB)))
        (local.set $x2 (i32.add (local.get $x1) (local.get $kB)))
        (local.set $x3 (i32.add (local.get $x2) (local.get $kB)))
        (local.set $a0 (local.get $b0)) (local.set $a1 (local.get $b1))
        (local.set $a2 (local.get $b0)) (local.set $a3 (local.get $b1))
        (local.set $a4 (local.get $b0)) (local.set $a5 (local.get $b1))
        (local.set $a6 (local.get $b0)) (local.set $a7 (local.get $b1))
        (local.set $pp (local.get $pack))
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
        (if (local.get $relu) (then
          (local.set $s (f32x4.splat (f32.const 0)))
          (local.set $a0 (f32x4.max (local.get $a0) (local.get $s))) (local.set $a1 (f32x4.max (local.get $a1) (local.get $s)))
          (local.set $a2 (f32x4.max (local.get $a2) (local.get $s))) (local.set $a3 (f32x4.max (local.get $a3) (local.get $s)))
          (local.set $a4 (f32x4.max (local.get $a4) (local.get $s))) (local.set $a5 (f32x4.max (local.get $a5) (local.get $s)))
          (local.set $a6 (f32x4.max (local.get $a6) (local.get $s))) (local.set $a7 (f32x4.max (local.get $a7) (local.get $s)))))
        (local.set $o (i32.add (local.get $out) (i32.add (i32.mul (local.get $r) (local.get $nB)) (local.get $j))))
        (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
        (local.set $o (i32.add (local.get $o) (local.get $nB)))
        (v128.store (local.get $o) (local.get $a2)) (v128.store offset=16 (local.get $o) (local.get $a3))
        (local.set $o (i32.add (local.get $o) (local.get $nB)))
        (v128.store (local.get $o) (local.get $a4)) (v128.store offset=16 (local.get $o) (local.get $a5))
        (local.set $o (i32.add (local.get $o) (local.get $nB)))
        (v128.store (local.get $o) (local.get $a6)) (v128.store offset=16 (local.get $o) (local.get $a7))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $r4l)))
      ;; the rows left over, one at a time
      (block $r1done (loop $r1l
        (br_if $r1done (i32.ge_u (local.get $r) (local.get $M)))
        (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $kB))))
        (local.set $a0 (local.get $b0)) (local.set $a1 (local.get $b1))
        (local.set $pp (local.get $pack))
        (local.set $kk (i32.const 0))
        (block $k1done (loop $k1l
          (br_if $k1done (i32.ge_u (local.get $kk) (local.get $kB)))
          (local.set $s (v128.load32_splat (i32.add (local.get $x0) (local.get $kk))))
          (local.set $a0 (f32x4.relaxed_madd (local.get $s) (v128.load (local.get $pp)) (local.get $a0)))
          (local.set $a1 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (local.get $pp)) (local.get $a1)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
          (br $k1l)))
        (if (local.get $relu) (then
          (local.set $s (f32x4.splat (f32.const 0)))
          (local.set $a0 (f32x4.max (local.get $a0) (local.get $s))) (local.set $a1 (f32x4.max (local.get $a1) (local.get $s)))))
        (local.set $o (i32.add (local.get $out) (i32.add (i32.mul (local.get $r) (local.get $nB)) (local.get $j))))
        (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $r1l)))
      (local.set $j (i32.add (local.get $j) (i32.const 32)))
      (br $jl)))
  )

  ;; dst[cols, rows] = transpose of src[rows, cols]. The Dense layers' backward pass needs two of
  ;; these per step (the teacher's are 173k floats each: 0.35 ms apiece as a blocked JavaScript
  ;; loop). Blocks of 4x4 are transposed in registers with shuffles; the ragged edges go scalar.
  (func (export "transpose_2d")
    (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32)
    (local $rB i32) (local $cB i32) (local $r i32) (local $c i32) (local $s i32) (local $d i32)
    (local $r4 i32) (local $c4 i32)
    (local $a v128) (local $b v128) (local $e v128) (local $f v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rB (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $cB (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $r (i32.const 0))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r4)))
      (local.set $c (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $c4)))
        ;; rows r..r+3, columns c..c+3 of src
        (local.set $s (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2))))
        (local.set $a (v128.load (local.get $s)))
        (local.set $s (i32.add (local.get $s) (local.get $cB)))
        (local.set $b (v128.load (local.get $s)))
        (local.set $s (i32.add (local.get $s) (local.get $cB)))
        (local.set $e (v128.load (local.get $s)))
        (local.set $s (i32.add (local.get $s) (local.get $cB)))
        (local.set $f (v128.load (local.get $s)))
        ;; t0 = a0 b0 a1 b1, t1 = a2 b2 a3 b3, t2 = e0 f0 e1 f1, t3 = e2 f2 e3 f3
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $e) (local.get $f)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $e) (local.get $f)))
        ;; column c+k of src becomes row c+k of dst, at column r
        (local.set $d (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2))))
        (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (local.set $d (i32.add (local.get $d) (local.get $rB)))
        (v128.store (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (local.set $d (i32.add (local.get $d) (local.get $rB)))
        (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (local.set $d (i32.add (local.get $d) (local.get $rB)))
        (v128.store (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $cl)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $rl)))
    ;; what the blocks missed: columns past the last full block in the first rows, every column in the rest
    (local.set $r (i32.const 0))
    (block $er (loop $erl
      (br_if $er (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $c (select (local.get $c4) (i32.const 0) (i32.lt_u (local.get $r) (local.get $r4))))
      (block $ec (loop $ecl
        (br_if $ec (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store
          (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2)))
          (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $ecl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $erl)))
  )

  ;; c[K, N] = a[R, K]^T b[R, N], N a multiple of 8: a Dense layer's weight gradient (x^T dy)
  ;; without transposing x. Tiles of 4 rows of c x 8 columns keep 8 accumulators in registers;
  ;; each step over r splats a[r, k..k+3] and streams b[r, j..j+7]. Leftover rows go one at a time.
  (func (export "matmul_tn")
    (param $a i32) (param $b i32) (param $c i32) (param $R i32) (param $K i32) (param $N i32) (param $k0 i32) (param $k1 i32)
    (local $kB i32) (local $nB i32) (local $k i32) (local $k4 i32) (local $j i32) (local $r i32) (local $ap i32) (local $bp i32) (local $o i32)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $kB (i32.shl (local.get $K) (i32.const 2)))
    (local.set $nB (i32.shl (local.get $N) (i32.const 2)))
    ;; rows [k0, k1) of c only; a split gives each thread rows from a multiple of 4, so every row
    ;; of c is in the same kind of tile as on one thread
    (local.set $k (i32.shl (local.get $k0) (i32.const 2)))
    (local.set $k4 (i32.shl (i32.and (local.get $k1) (i32.const -4)) (i32.const 2)))
    ;; $k and $j are byte offsets into a row of a and a row of b
    (block $kdone (loop $kl
      (br_if $kdone (i32.ge_u (local.get $k) (local.get $k4)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (local.get $nB)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (local.get $a0))
        (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
        (local.set $a4 (local.get $a0)) (local.set $a5 (local.get $a0))
        (local.set $a6 (local.get $a0)) (local.set $a7 (local.get $a0))
        (local.set $ap (i32.add (local.get $a) (local.get $k)))
        (local.set $bp (i32.add (local.get $b) (local.get $j)))
        (local.set $r (local.get $R))
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
          (local.set $ap (i32.add (local.get $ap) (local.get $kB)))
          (local.set $bp (i32.add (local.get $bp) (local.get $nB)))
          (local.set $r (i32.sub (local.get $r) (i32.const 1)))
          (br $rl)))
        ;; row k/4 of c starts at c + k * N (k is in bytes already)
        (local.set $o (i32.add (local.get $c) (i32.add (i32.mul (local.get $k) (local.get $N)) (local.get $j))))
        (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
        (local.set $o (i32.add (local.get $o) (local.get $nB)))
        (v128.store (local.get $o) (local.get $a2)) (v128.store offset=16 (local.get $o) (local.get $a3))
        (local.set $o (i32.add (local.get $o) (local.get $nB)))
        (v128.store (local.get $o) (local.get $a4)) (v128.store offset=16 (local.get $o) (local.get $a5))
        (local.set $o (i32.add (local.get $o) (local.get $nB)))
        (v128.store (local.get $o) (local.get $a6)) (v128.store offset=16 (local.get $o) (local.get $a7))
        (local.set $j (i32.add (local.get $j) (i32.const 32)))
        (br $jl)))
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (br $kl)))
    ;; the rows of c left over, one at a time
    (block $k1done (loop $k1l
      (br_if $k1done (i32.ge_u (local.get $k) (i32.shl (local.get $k1) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $j1done (loop $j1l
        (br_if $j1done (i32.ge_u (local.get $j) (local.get $nB)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (local.get $a0))
        (local.set $ap (i32.add (local.get $a) (local.get $k)))
        (local.set $bp (i32.add (local.get $b) (local.get $j)))
        (local.set $r (local.get $R))
        (block $r1done (loop $r1l
          (br_if $r1done (i32.eqz (local.get $r)))
          (local.set $s (v128.load32_splat (local.get $ap)))
          (local.set $a0 (f32x4.relaxed_madd (local.get $s) (v128.load (local.get $bp)) (local.get $a0)))
          (local.set $a1 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (local.get $bp)) (local.get $a1)))
          (local.set $ap (i32.add (local.get $ap) (local.get $kB)))
          (local.set $bp (i32.add (local.get $bp) (local.get $nB)))
          (local.set $r (i32.sub (local.get $r) (i32.const 1)))
          (br $r1l)))
        (local.set $o (i32.add (local.get $c) (i32.add (i32.mul (local.get $k) (local.get $N)) (local.get $j))))
        (v128.store (local.get $o) (local.get $a0)) (v128.store offset=16 (local.get $o) (local.get $a1))
        (local.set $j (i32.add (local.get $j) (i32.const 32)))
        (br $j1l)))
      (local.set $k (i32.add (local.get $k) (i32.const 4)))
      (br $k1l)))
  )

  ;; Horizontal sums of four vectors: lane q of the result is the sum of the lanes of vq.
  (func $sum4 (param $v0 v128) (param $v1 v128) (param $v2 v128) (param $v3 v128) (result v128)
    (local $u v128) (local $w v128)
    ;; u = [v0_0+v0_2, v1_0+v1_2, v0_1+v0_3, v1_1+v1_3]; w the same for v2 and v3
    (local.set $u (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1))))
    (local.set $w (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u) (local.get $w))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u) (local.get $w)))
  )

  ;; c[R, K] = a[R, N] b[K, N]^T, N a multiple of 4: a Dense layer's input gradient (dy w^T)
  ;; without transposing w. Each c value is a dot product of two contiguous rows; tiles of 2 rows
  ;; of a x 4 rows of b keep 8 vector accumulators, summed across lanes at the end ($sum4). Every
  ;; 4-row block of b is read from memory once and reused from cache for all of a.
  (func (export "matmul_nt")
    (param $a i32) (param $b i32) (param $c i32) (param $R i32) (param $K i32) (param $N i32) (param $k0 i32) (param $k1 i32)
    (local $nB i32) (local $kB i32) (local $k i32) (local $r i32) (local $n i32)
    (local $p0 i32) (local $p1 i32) (local $q0 i32) (local $q1 i32) (local $q2 i32) (local $q3 i32) (local $o i32)
    (local $x0 v128) (local $x1 v128) (local $w v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $nB (i32.shl (local.get $N) (i32.const 2)))
    (local.set $kB (i32.shl (local.get $K) (i32.const 2)))
    ;; columns [k0, k1) of c only (rows of b); a split starts each thread at a multiple of 4
    (local.set $k (local.get $k0))
    (block $kdone (loop $kl
      (br_if $kdone (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $k1)))
      (local.set $q0 (i32.add (local.get $b) (i32.mul (local.get $k) (local.get $nB))))
      (local.set $q1 (i32.add (local.get $q0) (local.get $nB)))
      (local.set $q2 (i32.add (local.get $q1) (local.get $nB)))
      (local.set $q3 (i32.add (local.get $q2) (local.get $nB)))
      (local.set $r (i32.const 0))
      (block $rdone (loop $rl
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $R)))
        (local.set $p0 (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $nB))))
        ;; the last row of an odd R pairs with itself; only its first result row is stored
        (local.set $p1 (select (i32.add (local.get $p0) (local.get $nB)) (local.get $p0)
          (i32.lt_u (i32.add (local.get $r) (i32.const 1)) (local.get $R))))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (local.get $a0))
        (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
        (local.set $a4 (local.get $a0)) (local.set $a5 (local.get $a0))
        (local.set $a6 (local.get $a0)) (local.set $a7 (local.get $a0))
        (local.set $n (i32.const 0))
        (block $ndone (loop $nl
          (br_if $ndone (i32.ge_u (local.get $n) (local.get $nB)))
          (local.set $x0 (v128.load (i32.add (local.get $p0) (local.get $n))))
          (local.set $x1 (v128.load (i32.add (local.get $p1) (local.get $n))))
          (local.set $w (v128.load (i32.add (local.get $q0) (local.get $n))))
          (local.set $a0 (f32x4.relaxed_madd (local.get $x0) (local.get $w) (local.get $a0)))
          (local.set $a4 (f32x4.relaxed_madd (local.get $x1) (local.get $w) (local.get $a4)))
          (local.set $w (v128.load (i32.add (local.get $q1) (local.get $n))))
          (local.set $a1 (f32x4.relaxed_madd (local.get $x0) (local.get $w) (local.get $a1)))
          (local.set $a5 (f32x4.relaxed_madd (local.get $x1) (local.get $w) (local.get $a5)))
          (local.set $w (v128.load (i32.add (local.get $q2) (local.get $n))))
          (local.set $a2 (f32x4.relaxed_madd (local.get $x0) (local.get $w) (local.get $a2)))
          (local.set $a6 (f32x4.relaxed_madd (local.get $x1) (local.get $w) (local.get $a6)))
          (local.set $w (v128.load (i32.add (local.get $q3) (local.get $n))))
          (local.set $a3 (f32x4.relaxed_madd (local.get $x0) (local.get $w) (local.get $a3)))
          (local.set $a7 (f32x4.relaxed_madd (local.get $x1) (local.get $w) (local.get $a7)))
          (local.set $n (i32.add (local.get $n) (i32.const 16)))
          (br $nl)))
        (local.set $o (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $K)) (local.get $k)) (i32.const 2))))
        (v128.store (local.get $o) (call $sum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
        (if (i32.lt_u (i32.add (local.get $r) (i32.const 1)) (local.get $R)) (then
          (v128.store (i32.add (local.get $o) (local.get $kB)) (call $sum4 (local.get $a4) (local.get $a5) (local.get $a6) (local.get $a7)))))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br $rl)))
      (local.set $k (i32.add (local.get $k) (i32.const 4)))
      (br $kl)))
    ;; the rows of b left over (K mod 4), one dot product at a time
    (block $k1done (loop $k1l
      (br_if $k1done (i32.ge_u (local.get $k) (local.get $k1)))
      (local.set $q0 (i32.add (local.get $b) (i32.mul (local.get $k) (local.get $nB))))
      (local.set $r (i32.const 0))
      (block $r1done (loop $r1l
        (br_if $r1done (i32.ge_u (local.get $r) (local.get $R)))
        (local.set $p0 (i32.add (local.get $a) (i32.mul (local.get $r) (local.get $nB))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $n (i32.const 0))
        (block $n1done (loop $n1l
          (br_if $n1done (i32.ge_u (local.get $n) (local.get $nB)))
          (local.set $a0 (f32x4.relaxed_madd (v128.load (i32.add (local.get $p0) (local.get $n))) (v128.load (i32.add (local.get $q0) (local.get $n))) (local.get $a0)))
          (local.set $n (i32.add (local.get $n) (i32.const 16)))
          (br $n1l)))
        (local.set $w (call $sum4 (local.get $a0) (local.get $a0) (local.get $a0) (local.get $a0)))
        (f32.store (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $K)) (local.get $k)) (i32.const 2)))
          (f32x4.extract_lane 0 (local.get $w)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $r1l)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $k1l)))
  )
)
