/*

relu_mask: fixed-point ReLU with its 1-bit derivative mask (FP) and the masked gradient (BP)

Contract (docs/ops.md "ReLU", fxtrain.ops.relu_fp / relu_bp), per lane, words are signed
DATA_WIDTH-bit two's complement:

    FP (in_bp = 0):  keep = in_rule_gt ? (x > 0) : (x >= 0)     ("gt" / "ge" rule; FPL'19 is "ge")
                     out_data = keep ? x : 0,  out_mask = keep    == relu_fp(x, rule)
    BP (in_bp = 1):  keep = in_mask                             (the mask stored by FP)
                     out_data = keep ? e : 0,  out_mask = keep    == relu_bp(e, mask)

Both rules give the same out_data in FP (x = 0 passes as 0 either way); they differ in
out_mask at x = 0 only. Worked example (FP): x = -2, 0, 3 -> out_data = 0, 0, 3 and
out_mask = 0, 1, 1 ("ge") or 0, 0, 1 ("gt").

Timing: one beat of LANES words per cycle, no backpressure. A beat sampled with in_valid
high at rising edge n is presented with out_valid high after rising edge n+1 (latency 1
cycle); gaps in in_valid pass through as gaps. in_bp and in_rule_gt are sampled with each
beat, so FP and BP beats (and both rules) may be mixed freely.

Reset: rst is synchronous and active high; it clears only out_valid. Data and mask
registers are free-running (don't-care while out_valid is low).

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module relu_mask #
(
    // Width of one signed data word (x in FP, e in BP), 2..64 bits
    parameter DATA_WIDTH = 16,
    // Number of parallel lanes (independent elements per beat), >= 1
    parameter LANES = 1
)
(
    input  wire                        clk,
    input  wire                        rst,

    /*
     * Input beat: LANES words, lane i in bits [i*DATA_WIDTH +: DATA_WIDTH]
     */
    input  wire [LANES*DATA_WIDTH-1:0] in_data,
    input  wire [LANES-1:0]            in_mask,
    input  wire                        in_bp,
    input  wire                        in_rule_gt,
    input  wire                        in_valid,

    /*
     * Output beat, 1 cycle later
     */
    output wire [LANES*DATA_WIDTH-1:0] out_data,
    output wire [LANES-1:0]            out_mask,
    output wire                        out_valid
);

// check configuration
initial begin
    if (DATA_WIDTH < 2 || DATA_WIDTH > 64) begin
        $error("Error: DATA_WIDTH must be in 2..64, got %0d (instance %m)", DATA_WIDTH);
        $finish;
    end
    if (LANES < 1) begin
        $error("Error: LANES must be at least 1, got %0d (instance %m)", LANES);
        $finish;
    end
end

localparam W = DATA_WIDTH;

wire [LANES-1:0]     keep;

reg  [LANES*W-1:0]   data_reg;
reg  [LANES-1:0]     mask_reg;
reg                  valid_reg;

assign out_data = data_reg;
assign out_mask = mask_reg;
assign out_valid = valid_reg;

generate
    genvar i;
    for (i = 0; i < LANES; i = i + 1) begin : lane
        wire [W-1:0] x = in_data[i*W +: W];
        // x >= 0 is "sign bit clear"; x > 0 additionally needs a set bit
        wire fp_keep = ~x[W-1] & (~in_rule_gt | (|x));
        assign keep[i] = in_bp ? in_mask[i] : fp_keep;
    end
endgenerate

always @(posedge clk) begin : data_path
    integer k;
    // dropping is a synchronous clear, so it can use the flip-flops' reset pins
    for (k = 0; k < LANES; k = k + 1) begin
        if (keep[k]) begin
            data_reg[k*W +: W] <= in_data[k*W +: W];
        end else begin
            data_reg[k*W +: W] <= {W{1'b0}};
        end
    end
    mask_reg <= keep;
    valid_reg <= in_valid;

    if (rst) begin
        valid_reg <= 1'b0;
    end
end

endmodule

`resetall
