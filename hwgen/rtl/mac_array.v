/*

mac_array: LANES multiply-accumulate lanes sharing one broadcast activation

Contract (docs/numerics.md section 6, fxtrain.numerics.acc_sum / acc_matmul): for a
dot product fed as beats k = 0 .. K-1 (in_first on beat 0, in_last on beat K-1),

    out_acc[p] = wrap(sum_k in_act[k] * in_wgt[k][p], ACC_BITS)
               = acc_matmul(act[None, :], wgt, ACC_BITS)[0, p]

where in_act is A_W-bit and in_wgt[p] W_W-bit two's complement. Products are exact;
the accumulator wraps mod 2**ACC_BITS (two's complement), so the result equals the
engine's wrapped exact sum for every K (docs/numerics.md: wrap is a ring homomorphism).

Dataflow (conv FP, output-stationary over P output channels): each beat brings one
activation a[n, c, y*S+ky-P, x*S+kx-P] broadcast to all lanes and the P weights
W[o0+p, c, ky, kx] of one FP read of the cyclic weight buffer (cyclic_wbuf), so lane p
accumulates the FP accumulator acc[n, o0+p, y, x] over (c, ky, kx) in any order.

Control: a beat is taken when in_valid is high. in_first starts a new sum (the
accumulator loads the product instead of adding it); in_last marks the sum's final
beat: out_valid pulses for one cycle with out_acc holding the finished sums. Beats
without in_valid leave the accumulators unchanged, so a dot product may have gaps.
out_acc shows the running sums at all other times (don't care unless out_valid).

Timing: fully pipelined, one beat per cycle. A beat taken at rising edge n is in the
accumulator after edge n+3 (latency 3: input registers, product register,
accumulator register, matching the DSP48 A/B, M and P registers).

Reset: rst is synchronous and active high and clears the valid pipeline only; an
accumulation cut by a reset must be restarted with in_first.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module mac_array #
(
    // Number of lanes (output channels accumulated in parallel, >= 1)
    parameter LANES = 4,
    // Width of the broadcast activation, two's complement (2..32)
    parameter A_W = 16,
    // Width of each lane's weight, two's complement (2..32)
    parameter W_W = 16,
    // Width of each accumulator, two's complement with wrap-around (2..64)
    parameter ACC_BITS = 32
)
(
    input  wire                      clk,
    input  wire                      rst,

    /*
     * One beat: activation broadcast to every lane, one weight per lane
     */
    input  wire [A_W-1:0]            in_act,
    input  wire [LANES*W_W-1:0]      in_wgt,
    input  wire                      in_first,
    input  wire                      in_last,
    input  wire                      in_valid,

    /*
     * Finished sums, lane p at [p*ACC_BITS +: ACC_BITS]
     */
    output wire [LANES*ACC_BITS-1:0] out_acc,
    output wire                      out_valid
);

// check configuration
initial begin
    if (LANES < 1) begin
        $error("Error: LANES must be at least 1, got %0d (instance %m)", LANES);
        $finish;
    end
    if (A_W < 2 || A_W > 32) begin
        $error("Error: A_W must be in 2..32, got %0d (instance %m)", A_W);
        $finish;
    end
    if (W_W < 2 || W_W > 32) begin
        $error("Error: W_W must be in 2..32, got %0d (instance %m)", W_W);
        $finish;
    end
    if (ACC_BITS < 2 || ACC_BITS > 64) begin
        $error("Error: ACC_BITS must be in 2..64, got %0d (instance %m)", ACC_BITS);
        $finish;
    end
end

// exact product width
localparam PW = A_W + W_W;

reg [A_W-1:0] s1_act_reg;
reg           s1_first_reg, s2_first_reg;
reg           s1_last_reg, s2_last_reg, s3_last_reg;
reg           s1_valid_reg, s2_valid_reg, s3_valid_reg;

assign out_valid = s3_valid_reg && s3_last_reg;

always @(posedge clk) begin
    s1_act_reg <= in_act;
    s1_first_reg <= in_first;
    s2_first_reg <= s1_first_reg;
    s1_last_reg <= in_last;
    s2_last_reg <= s1_last_reg;
    s3_last_reg <= s2_last_reg;

    s1_valid_reg <= in_valid;
    s2_valid_reg <= s1_valid_reg;
    s3_valid_reg <= s2_valid_reg;

    if (rst) begin
        s1_valid_reg <= 1'b0;
        s2_valid_reg <= 1'b0;
        s3_valid_reg <= 1'b0;
    end
end

genvar p;
generate
for (p = 0; p < LANES; p = p + 1) begin : lane

    reg  [W_W-1:0]      s1_wgt_reg;
    reg  [PW-1:0]       s2_prod_reg, s2_prod_next;
    reg  [ACC_BITS-1:0] s3_acc_reg, s3_acc_next;
    wire [ACC_BITS-1:0] addend;

    assign out_acc[p*ACC_BITS +: ACC_BITS] = s3_acc_reg;

    // the product mod 2**ACC_BITS: sign-extended, or its low bits (wrap is modular)
    if (ACC_BITS > PW) begin : addend_extend
        assign addend = {{(ACC_BITS-PW){s2_prod_reg[PW-1]}}, s2_prod_reg};
    end else if (ACC_BITS == PW) begin : addend_same
        assign addend = s2_prod_reg;
    end else begin : addend_low
        assign addend = s2_prod_reg[ACC_BITS-1:0];
        /* verilator lint_off UNUSEDSIGNAL */
        wire [PW-ACC_BITS-1:0] addend_unused = s2_prod_reg[PW-1:ACC_BITS];
        /* verilator lint_on UNUSEDSIGNAL */
    end

    always @* begin
        s2_prod_next = $signed(s1_act_reg) * $signed(s1_wgt_reg);

        s3_acc_next = s3_acc_reg;
        if (s2_valid_reg) begin
            s3_acc_next = (s2_first_reg ? {ACC_BITS{1'b0}} : s3_acc_reg) + addend;
        end
    end

    always @(posedge clk) begin
        s1_wgt_reg <= in_wgt[p*W_W +: W_W];
        s2_prod_reg <= s2_prod_next;
        s3_acc_reg <= s3_acc_next;
    end

end
endgenerate

endmodule

`resetall
