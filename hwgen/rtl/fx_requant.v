/*

fx_requant: requantize LANES signed accumulators to OUT_W-bit words

Contract (docs/numerics.md section 3, fxtrain.numerics.requantize), per lane l:

    out_data[l] = requantize(x, f_src, Q(OUT_W, f_dst), ROUNDING_MODES[in_round],
                             OVERFLOW_MODES[in_wrap], key=in_key, index=in_index[l])

with x = in_data[l] (IN_W-bit two's complement) and the shift s = f_src - f_dst given
at run time on in_shift (8-bit two's complement), SHIFT_MIN <= s <= SHIFT_MAX.
Rounding codes (positions in ROUNDING_MODES): 0 floor, 1 trunc, 2 half_up,
3 half_even, 4 half_away, 5 stochastic. in_wrap: 0 saturate, 1 wrap.
out_ovf[l] = 1 iff the rounded value did not fit OUT_W bits (it was saturated or
wrapped; the engine's per-element "overflowed"). Stochastic rounding draws
R = lowbias32((in_key + in_index[l]) mod 2**32) (the lowbias32 module, one per lane)
and adds u = the top s bits of R (zero padded below when s > 32) before the floor.

A beat with s outside [SHIFT_MIN, SHIFT_MAX] or a rounding code 6/7 is rejected:
out_err = 1 with out_data = 0 and out_ovf = 0 (the engine raises on such calls).
in_shift, in_round, in_wrap and in_key apply to every lane of a beat.

Method: x is sign-extended and shifted left by SHIFT_MAX - s into a frame with
FR = SHIFT_MAX fraction bits below the new LSB, so every run-time shift rounds at the
same fixed bit position: a = z >>> FR, guard G = z[FR-1], sticky L = |z[FR-2:0],
sign S, LSB z[FR]; v = a + inc with inc from docs/numerics.md 3.2
(trunc S&(G|L), half_up G, half_even G&(L|LSB), half_away G&(~S|L)). Stochastic inc is
the carry out of z[FR-1:0] + R aligned with its MSB at bit FR-1: the bits of R below
u's LSB cannot change that carry because z is zero there. s <= 0 leaves z[FR-1:0] = 0,
so every mode is the exact left shift.

Timing: fully pipelined, one beat per cycle, no backpressure. A beat sampled with
in_valid high at rising edge n appears with out_valid high after edge n+5 (latency 5);
gaps pass through as gaps. Stages: 1 input registers (the hash starts on
in_key + in_index); 2 barrel shift; 3 guard/sticky and deterministic increment;
4 stochastic carry (R ready) and v = a + inc; 5 overflow handling.

Reset: rst is synchronous and active high and clears only the valid pipeline (a beat
in flight is dropped); data registers are free-running.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module fx_requant #
(
    // Number of lanes (accumulators) per beat (>= 1)
    parameter LANES = 1,
    // Width of each input accumulator, two's complement (2..64)
    parameter IN_W = 32,
    // Width of each output word, two's complement (2..32)
    parameter OUT_W = 16,
    // Smallest run-time shift f_src - f_dst accepted (-64..0; signed, hence integer)
    parameter integer SHIFT_MIN = -8,
    // Largest run-time shift f_src - f_dst accepted (1..64)
    parameter integer SHIFT_MAX = 40
)
(
    input  wire                   clk,
    input  wire                   rst,

    /*
     * Accumulators and per-beat settings
     */
    input  wire [LANES*IN_W-1:0]  in_data,
    input  wire [LANES*32-1:0]    in_index,
    input  wire [7:0]             in_shift,
    input  wire [2:0]             in_round,
    input  wire                   in_wrap,
    input  wire [31:0]            in_key,
    input  wire                   in_valid,

    /*
     * Requantized words, 5 cycles later
     */
    output wire [LANES*OUT_W-1:0] out_data,
    output wire [LANES-1:0]       out_ovf,
    output wire                   out_err,
    output wire                   out_valid
);

// check configuration
initial begin
    if (LANES < 1) begin
        $error("Error: LANES must be at least 1, got %0d (instance %m)", LANES);
        $finish;
    end
    if (IN_W < 2 || IN_W > 64) begin
        $error("Error: IN_W must be in 2..64, got %0d (instance %m)", IN_W);
        $finish;
    end
    if (OUT_W < 2 || OUT_W > 32) begin
        $error("Error: OUT_W must be in 2..32, got %0d (instance %m)", OUT_W);
        $finish;
    end
    if (SHIFT_MIN < -64 || SHIFT_MIN > 0) begin
        $error("Error: SHIFT_MIN must be in -64..0, got %0d (instance %m)", SHIFT_MIN);
        $finish;
    end
    if (SHIFT_MAX < 1 || SHIFT_MAX > 64) begin
        $error("Error: SHIFT_MAX must be in 1..64, got %0d (instance %m)", SHIFT_MAX);
        $finish;
    end
end

// fraction bits of the aligned frame (clamped so an illegal SHIFT_MAX still elaborates
// and reaches the guard above), and the largest left shift into it
localparam FR = SHIFT_MAX > 1 ? SHIFT_MAX : 1;
localparam SPAN = SHIFT_MAX - SHIFT_MIN;
// aligned frame z, its integer part a = z >>> FR, the rounded value v = a + inc
localparam ZW = IN_W + SPAN;
localparam AW = ZW - FR;
localparam VW = AW + 1;
// v sign-extended to at least OUT_W bits for the fit test
localparam EW = VW > OUT_W ? VW : OUT_W;

localparam [2:0] RND_FLOOR = 3'd0;
localparam [2:0] RND_TRUNC = 3'd1;
localparam [2:0] RND_HALF_UP = 3'd2;
localparam [2:0] RND_HALF_EVEN = 3'd3;
localparam [2:0] RND_HALF_AWAY = 3'd4;
localparam [2:0] RND_STOCHASTIC = 3'd5;

localparam signed [8:0] SHIFT_MIN9 = SHIFT_MIN[8:0];
localparam signed [8:0] SHIFT_MAX9 = SHIFT_MAX[8:0];

localparam [OUT_W-1:0] OUT_MAX = {1'b0, {(OUT_W-1){1'b1}}};
localparam [OUT_W-1:0] OUT_MIN = {1'b1, {(OUT_W-1){1'b0}}};

// ---------------------------------------------------------------- shared control

wire signed [8:0] shift9 = {in_shift[7], in_shift};
wire              shift_ok = (shift9 >= SHIFT_MIN9) && (shift9 <= SHIFT_MAX9);
wire [8:0]        left_next = SHIFT_MAX9 - shift9;

reg [8:0] s1_left_reg;
reg [2:0] s1_round_reg, s2_round_reg, s3_round_reg;
reg       s1_wrap_reg, s2_wrap_reg, s3_wrap_reg, s4_wrap_reg;
reg       s1_err_reg, s2_err_reg, s3_err_reg, s4_err_reg, s5_err_reg;
reg       s1_valid_reg, s2_valid_reg, s3_valid_reg, s4_valid_reg, s5_valid_reg;

assign out_err = s5_err_reg;
assign out_valid = s5_valid_reg;

always @(posedge clk) begin
    s1_left_reg <= left_next;
    s1_round_reg <= in_round;
    s2_round_reg <= s1_round_reg;
    s3_round_reg <= s2_round_reg;
    s1_wrap_reg <= in_wrap;
    s2_wrap_reg <= s1_wrap_reg;
    s3_wrap_reg <= s2_wrap_reg;
    s4_wrap_reg <= s3_wrap_reg;
    s1_err_reg <= !shift_ok || in_round > RND_STOCHASTIC;
    s2_err_reg <= s1_err_reg;
    s3_err_reg <= s2_err_reg;
    s4_err_reg <= s3_err_reg;
    s5_err_reg <= s4_err_reg;

    s1_valid_reg <= in_valid;
    s2_valid_reg <= s1_valid_reg;
    s3_valid_reg <= s2_valid_reg;
    s4_valid_reg <= s3_valid_reg;
    s5_valid_reg <= s4_valid_reg;

    if (rst) begin
        s1_valid_reg <= 1'b0;
        s2_valid_reg <= 1'b0;
        s3_valid_reg <= 1'b0;
        s4_valid_reg <= 1'b0;
        s5_valid_reg <= 1'b0;
    end
end

// ---------------------------------------------------------------- lanes

genvar l;
generate
for (l = 0; l < LANES; l = l + 1) begin : lane

    reg  [IN_W-1:0]  s1_x_reg;
    reg  [ZW-1:0]    s2_z_reg, s2_z_next;
    reg  [AW-1:0]    s3_a_reg;
    reg  [FR-1:0]    s3_frac_reg;
    reg              s3_inc_reg, s3_inc_next;
    reg  [VW-1:0]    s4_v_reg, s4_v_next;
    reg  [OUT_W-1:0] s5_y_reg, s5_y_next;
    reg              s5_ovf_reg, s5_ovf_next;

    wire [31:0]      rand_word;
    wire [FR-1:0]    rand_aligned;
    wire             sticky;
    wire             stoch_carry;
    wire [EW-1:0]    v_ext;

    assign out_data[l*OUT_W +: OUT_W] = s5_y_reg;
    assign out_ovf[l] = s5_ovf_reg;

    // R(i) = lowbias32((key + i) mod 2**32); ready after edge n+3, used in stage 4
    /* verilator lint_off PINCONNECTEMPTY */
    lowbias32 #(
        .TAG_WIDTH(1)
    )
    hash_inst (
        .clk(clk),
        .rst(rst),
        .in_data(in_key + in_index[l*32 +: 32]),
        .in_tag(1'b0),
        .in_valid(in_valid),
        .out_data(rand_word),
        .out_tag(),
        .out_valid()
    );
    /* verilator lint_on PINCONNECTEMPTY */

    // R with its MSB at frame bit FR-1 (u's bits and, harmlessly, the bits below them)
    if (FR > 32) begin : rand_wide
        assign rand_aligned = {rand_word, {(FR-32){1'b0}}};
    end else if (FR == 32) begin : rand_full
        assign rand_aligned = rand_word;
    end else begin : rand_narrow
        assign rand_aligned = rand_word[31 -: FR];
        /* verilator lint_off UNUSEDSIGNAL */
        wire [31-FR:0] rand_unused = rand_word[31-FR:0];
        /* verilator lint_on UNUSEDSIGNAL */
    end

    if (FR > 1) begin : sticky_bits
        assign sticky = |s2_z_reg[FR-2:0];
    end else begin : sticky_none
        assign sticky = 1'b0;
    end

    if (EW > VW) begin : v_extend
        assign v_ext = {{(EW-VW){s4_v_reg[VW-1]}}, s4_v_reg};
    end else begin : v_same
        assign v_ext = s4_v_reg;
    end

    // carry out of the FR-bit sum frac + rand_aligned
    wire [FR:0] stoch_sum = {1'b0, s3_frac_reg} + {1'b0, rand_aligned};
    assign stoch_carry = stoch_sum[FR];

    always @* begin
        s2_z_next = $signed({{SPAN{s1_x_reg[IN_W-1]}}, s1_x_reg}) <<< s1_left_reg;

        // G = s2_z_reg[FR-1], S = sign, LSB of a = s2_z_reg[FR]
        case (s2_round_reg)
            RND_TRUNC:     s3_inc_next = s2_z_reg[ZW-1] & (s2_z_reg[FR-1] | sticky);
            RND_HALF_UP:   s3_inc_next = s2_z_reg[FR-1];
            RND_HALF_EVEN: s3_inc_next = s2_z_reg[FR-1] & (sticky | s2_z_reg[FR]);
            RND_HALF_AWAY: s3_inc_next = s2_z_reg[FR-1] & (~s2_z_reg[ZW-1] | sticky);
            RND_FLOOR:     s3_inc_next = 1'b0;
            default:       s3_inc_next = 1'b0;  // stochastic decides in stage 4
        endcase

        s4_v_next = {s3_a_reg[AW-1], s3_a_reg}
                    + {{AW{1'b0}}, (s3_round_reg == RND_STOCHASTIC) ? stoch_carry : s3_inc_reg};

        // v fits OUT_W bits iff all bits from OUT_W-1 up are copies of the sign
        s5_ovf_next = !(&v_ext[EW-1:OUT_W-1] || !(|v_ext[EW-1:OUT_W-1]));
        if (!s5_ovf_next || s4_wrap_reg) begin
            s5_y_next = v_ext[OUT_W-1:0];
        end else begin
            s5_y_next = v_ext[EW-1] ? OUT_MIN : OUT_MAX;
        end
        if (s4_err_reg) begin
            s5_y_next = {OUT_W{1'b0}};
            s5_ovf_next = 1'b0;
        end
    end

    always @(posedge clk) begin
        s1_x_reg <= in_data[l*IN_W +: IN_W];
        s2_z_reg <= s2_z_next;
        s3_a_reg <= s2_z_reg[ZW-1:FR];
        s3_frac_reg <= s2_z_reg[FR-1:0];
        s3_inc_reg <= s3_inc_next;
        s4_v_reg <= s4_v_next;
        s5_y_reg <= s5_y_next;
        s5_ovf_reg <= s5_ovf_next;
    end

end
endgenerate

endmodule

`resetall
