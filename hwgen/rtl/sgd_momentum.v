/*

sgd_momentum: fixed-point SGD-with-momentum update, the FPL'19 three steps and the classic form

Contract (docs/ops.md "Momentum updates", fxtrain.ops.update), per lane, all words signed
DATA_WIDTH-bit two's complement; P = B * C is the exact 2*DATA_WIDTH-bit product;
rnd(x, s) = floor(x / 2**s + 1/2) is round-half-up (the hardware carry-in rounding; s = 0
is exact); fit() keeps DATA_WIDTH bits by wrap (in_saturate = 0, the FPL'19 choice) or by
saturation (in_saturate = 1):

    in_op  name         out_data                                   engine function
    0      ACCUMULATE   fit(A + fit(rnd(P << lb, s)))              fpl19_accumulate(V=A, G_g=B, lr_q=C)
    1      APPLY        fit(A - fit(rnd(P << lb, s)))              fpl19_apply(W=A, V=B, s_q=C)
    2      DECAY        fit(rnd(P << lb, s))            (A unused) fpl19_decay(V=B, m_q=C)
    3      CLASSIC_ADD  fit(rnd((A << la) + (P << lb), s))         sgd_momentum v' = round(m*v + g):
                                                                   A = g, B = v, C = m_q
    4      CLASSIC_SUB  fit(rnd((A << la) - (P << lb), s))         sgd_momentum w' = round(w - lr*v'):
                                                                   A = w, B = v', C = lr_q
    5..7   reserved: behave as DECAY

with s = in_shift, la = in_align_a, lb = in_align_p. The engine's fraction lengths map to
the shifts as: FPL'19 ops s - lb = (product fraction) - (result fraction), e.g.
accumulate s - lb = f_G + f_lr - f_V (16 in the fpl19 recipe; a negative engine shift is
s = 0, lb = its magnitude); classic ops la = F - f_A, lb = F - f_P, s = F - f_result with
F = max(f_A, f_P) the alignment fraction (plus any common left shift when F < f_result).

out_ovf[2i+1:2i] flags lane i: bit 0 = the rounded product (FPL'19 ops) or the rounded
result (classic ops) did not fit DATA_WIDTH bits; bit 1 = the FPL'19 add/subtract did
not fit. The popcount of a tensor's flags is the engine's n_overflow (n_overflow_v,
n_overflow_w for the classic steps).

Worked examples (16 bits, wrap): ACCUMULATE A = 10, B = 3, C = 5, s = 1: P = 15,
rnd(15, 1) = 8 (7.5 ties up), out = 18; with B = -3: rnd(-15, 1) = -7, out = 3.
DECAY B = -3, C = 16384 (m = 0.5 at fraction 15), s = 15: rnd(-49152, 15) = rnd(-1.5)
= -1. ACCUMULATE A = 32767, B = C = 1, s = 0: out = -32768 (wrapped), out_ovf = 2'b10.
C is one DATA_WIDTH-bit word (the recipe's 16-bit constants lr_q, s_q, m_q).

Only round-half-up is built (the FPL'19 rounding for both the momentum and the update);
the other contract modes (floor, trunc, half_even, half_away, stochastic) are not in this
module.

Timing: fully pipelined, one beat of LANES elements per cycle, no backpressure. A beat
sampled with in_valid high at rising edge n is presented with out_valid high after rising
edge n+4 (latency 4 cycles); gaps pass through as gaps. in_op, in_c, the shifts and
in_saturate are sampled with each beat (shared by its lanes), so beats of different ops
and layers may follow back to back. Tie the shift inputs to constants to let synthesis
remove the barrel shifters.
Stages: (1) P = B * C; (2) align and add/subtract (classic ops); (3) round half up by s;
(4) fit, then the FPL'19 add/subtract and its fit.

Reset: rst is synchronous and active high; it clears only the valid pipeline. Data
registers are free-running.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module sgd_momentum #
(
    // Width of the data words A, B, C and of the result, 2..32 bits (the engine's w)
    parameter DATA_WIDTH = 16,
    // Number of parallel lanes (A and B per lane; op, C and shifts shared), >= 1
    parameter LANES = 1,
    // Width of in_shift, the round-half-up right shift s (0 .. 2**SHIFT_WIDTH-1), 1..6
    parameter SHIFT_WIDTH = 6,
    // Width of in_align_a/in_align_p, the exact left shifts la, lb, 1..6
    parameter ALIGN_WIDTH = 5
)
(
    input  wire                        clk,
    input  wire                        rst,

    /*
     * Operands: lane i is in_a/in_b[i*DATA_WIDTH +: DATA_WIDTH]
     */
    input  wire [2:0]                  in_op,
    input  wire [LANES*DATA_WIDTH-1:0] in_a,
    input  wire [LANES*DATA_WIDTH-1:0] in_b,
    input  wire [DATA_WIDTH-1:0]       in_c,
    input  wire [SHIFT_WIDTH-1:0]      in_shift,
    input  wire [ALIGN_WIDTH-1:0]      in_align_a,
    input  wire [ALIGN_WIDTH-1:0]      in_align_p,
    input  wire                        in_saturate,
    input  wire                        in_valid,

    /*
     * Results, 4 cycles later
     */
    output wire [LANES*DATA_WIDTH-1:0] out_data,
    output wire [LANES*2-1:0]          out_ovf,
    output wire                        out_valid
);

// check configuration
initial begin
    if (DATA_WIDTH < 2 || DATA_WIDTH > 32) begin
        $error("Error: DATA_WIDTH must be in 2..32, got %0d (instance %m)", DATA_WIDTH);
        $finish;
    end
    if (LANES < 1) begin
        $error("Error: LANES must be at least 1, got %0d (instance %m)", LANES);
        $finish;
    end
    if (SHIFT_WIDTH < 1 || SHIFT_WIDTH > 6) begin
        $error("Error: SHIFT_WIDTH must be in 1..6, got %0d (instance %m)", SHIFT_WIDTH);
        $finish;
    end
    if (ALIGN_WIDTH < 1 || ALIGN_WIDTH > 6) begin
        $error("Error: ALIGN_WIDTH must be in 1..6, got %0d (instance %m)", ALIGN_WIDTH);
        $finish;
    end
end

localparam [2:0] OP_ACCUMULATE = 3'd0;
localparam [2:0] OP_APPLY = 3'd1;
localparam [2:0] OP_CLASSIC_ADD = 3'd3;
localparam [2:0] OP_CLASSIC_SUB = 3'd4;

localparam W = DATA_WIDTH;
localparam PW = 2*W;                         // exact product B*C
localparam AMAX = (1 << ALIGN_WIDTH) - 1;    // largest left shift
localparam XW = PW + AMAX + 1;               // (A << la) +- (P << lb) with a spare bit
localparam RW = XW + 1;                      // x with the guard bit below its LSB

localparam signed [RW-1:0] R_ONE = 1;
localparam [W-1:0] MAX_CODE = {1'b0, {(W-1){1'b1}}};
localparam [W-1:0] MIN_CODE = {1'b1, {(W-1){1'b0}}};

// stage 1: product
reg  [LANES*W-1:0]     s1_a_reg;
reg  [LANES*PW-1:0]    s1_p_reg;
wire [LANES*PW-1:0]    s1_p_next;
reg  [2:0]             s1_op_reg;
reg  [SHIFT_WIDTH-1:0] s1_shift_reg;
reg  [ALIGN_WIDTH-1:0] s1_la_reg, s1_lb_reg;
reg                    s1_sat_reg;
reg                    s1_valid_reg;

// stage 2: aligned sum
reg  [LANES*W-1:0]     s2_a_reg;
reg  [LANES*XW-1:0]    s2_x_reg;
wire [LANES*XW-1:0]    s2_x_next;
reg  [2:0]             s2_op_reg;
reg  [SHIFT_WIDTH-1:0] s2_shift_reg;
reg                    s2_sat_reg;
reg                    s2_valid_reg;

// stage 3: rounded value
reg  [LANES*W-1:0]     s3_a_reg;
reg  [LANES*RW-1:0]    s3_v_reg;
wire [LANES*RW-1:0]    s3_v_next;
reg  [2:0]             s3_op_reg;
reg                    s3_sat_reg;
reg                    s3_valid_reg;

// stage 4: fitted result
reg  [LANES*W-1:0]     s4_y_reg;
wire [LANES*W-1:0]     s4_y_next;
reg  [LANES*2-1:0]     s4_ovf_reg;
wire [LANES*2-1:0]     s4_ovf_next;
reg                    s4_valid_reg;

wire s2_classic = (s1_op_reg == OP_CLASSIC_ADD) || (s1_op_reg == OP_CLASSIC_SUB);
wire s2_sub = (s1_op_reg == OP_CLASSIC_SUB);
wire s4_fpl19_add = (s3_op_reg == OP_ACCUMULATE) || (s3_op_reg == OP_APPLY);
wire s4_sub = (s3_op_reg == OP_APPLY);

assign out_data = s4_y_reg;
assign out_ovf = s4_ovf_reg;
assign out_valid = s4_valid_reg;

generate
    genvar i;
    for (i = 0; i < LANES; i = i + 1) begin : lane
        // (1) exact signed product
        wire signed [W-1:0]  b = in_b[i*W +: W];
        assign s1_p_next[i*PW +: PW] = b * $signed(in_c);

        // (2) exact alignment; the classic ops add or subtract the aligned A
        wire signed [PW-1:0] p = s1_p_reg[i*PW +: PW];
        wire signed [W-1:0]  a1 = s1_a_reg[i*W +: W];
        wire signed [XW-1:0] tp = $signed({{(XW-PW){p[PW-1]}}, p}) <<< s1_lb_reg;
        wire signed [XW-1:0] ta = $signed({{(XW-W){a1[W-1]}}, a1}) <<< s1_la_reg;
        assign s2_x_next[i*XW +: XW] = !s2_classic ? tp : (s2_sub ? ta - tp : ta + tp);

        // (3) rnd(x, s) = floor((floor(x / 2**(s-1)) + 1) / 2): shift 2x by s, add the
        // carry-in, drop the guard bit. s = 0 gives (2x + 1) >>> 1 = x.
        wire signed [RW-1:0] x2 = {s2_x_reg[i*XW +: XW], 1'b0};
        wire signed [RW-1:0] q = x2 >>> s2_shift_reg;
        assign s3_v_next[i*RW +: RW] = (q + R_ONE) >>> 1;

        // (4) fit to W bits, then the FPL'19 add/subtract and its fit
        wire        [RW-1:0] v = s3_v_reg[i*RW +: RW];
        wire                 ovf1 = (v[RW-1:W-1] != {(RW-W+1){v[RW-1]}});
        wire        [W-1:0]  f1 = (ovf1 && s3_sat_reg) ? (v[RW-1] ? MIN_CODE : MAX_CODE)
                                                       : v[W-1:0];
        wire        [W-1:0]  a3 = s3_a_reg[i*W +: W];
        wire        [W:0]    a3x = {a3[W-1], a3};
        wire        [W:0]    f1x = {f1[W-1], f1};
        wire        [W:0]    sum = s4_sub ? a3x - f1x : a3x + f1x;
        wire                 ovf2 = (sum[W] != sum[W-1]);
        wire        [W-1:0]  f2 = (ovf2 && s3_sat_reg) ? (sum[W] ? MIN_CODE : MAX_CODE)
                                                       : sum[W-1:0];
        assign s4_y_next[i*W +: W] = s4_fpl19_add ? f2 : f1;
        assign s4_ovf_next[2*i +: 2] = {s4_fpl19_add && ovf2, ovf1};
    end
endgenerate

always @(posedge clk) begin
    s1_a_reg <= in_a;
    s1_p_reg <= s1_p_next;
    s1_op_reg <= in_op;
    s1_shift_reg <= in_shift;
    s1_la_reg <= in_align_a;
    s1_lb_reg <= in_align_p;
    s1_sat_reg <= in_saturate;

    s2_a_reg <= s1_a_reg;
    s2_x_reg <= s2_x_next;
    s2_op_reg <= s1_op_reg;
    s2_shift_reg <= s1_shift_reg;
    s2_sat_reg <= s1_sat_reg;

    s3_a_reg <= s2_a_reg;
    s3_v_reg <= s3_v_next;
    s3_op_reg <= s2_op_reg;
    s3_sat_reg <= s2_sat_reg;

    s4_y_reg <= s4_y_next;
    s4_ovf_reg <= s4_ovf_next;

    s1_valid_reg <= in_valid;
    s2_valid_reg <= s1_valid_reg;
    s3_valid_reg <= s2_valid_reg;
    s4_valid_reg <= s3_valid_reg;

    if (rst) begin
        s1_valid_reg <= 1'b0;
        s2_valid_reg <= 1'b0;
        s3_valid_reg <= 1'b0;
        s4_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
