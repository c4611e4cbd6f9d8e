/*

lowbias32: the stochastic-rounding hash of the fxtrain numerics contract

Contract (docs/numerics.md, fxtrain.numerics.lowbias32), all arithmetic mod 2**32:

    x ^= x >> 16;  x *= 32'h7feb352d;  x ^= x >> 15;  x *= 32'h846ca68b;  x ^= x >> 16

out_data = lowbias32(in_data). Known answers: 0 -> 32'h00000000, 1 -> 32'h688990c0,
32'hffffffff -> 32'h6768824a.

Timing: fully pipelined, one word per cycle, no backpressure. A word sampled with
in_valid high at rising edge n is presented on out_data/out_tag with out_valid high
after rising edge n+3 (latency 3 cycles); gaps in in_valid pass through as gaps.
in_tag is an opaque sideband (e.g. the element index i of R(i)) that travels with
its word so a consumer can match results without counting cycles.

Reset: rst is synchronous and active high; it clears only the valid pipeline.
Data and tag registers are free-running (no reset, no enable) to keep the multiplier
paths free of extra muxes; they are don't-care while their valid bit is low.

Stages (the two constant multiplies sit in separate stages so each maps onto its
own DSP cascade):
    1: h1 = (x ^ (x >> 16)) * 32'h7feb352d
    2: h2 = (h1 ^ (h1 >> 15)) * 32'h846ca68b
    3: h3 = h2 ^ (h2 >> 16)

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module lowbias32 #
(
    // Width of the in_tag/out_tag sideband carried alongside each word (>= 1)
    parameter TAG_WIDTH = 1
)
(
    input  wire                 clk,
    input  wire                 rst,

    /*
     * Input words
     */
    input  wire [31:0]          in_data,
    input  wire [TAG_WIDTH-1:0] in_tag,
    input  wire                 in_valid,

    /*
     * Hashed words, 3 cycles later
     */
    output wire [31:0]          out_data,
    output wire [TAG_WIDTH-1:0] out_tag,
    output wire                 out_valid
);

// check configuration
initial begin
    if (TAG_WIDTH < 1) begin
        $error("Error: TAG_WIDTH must be at least 1, got %0d (instance %m)", TAG_WIDTH);
        $finish;
    end
end

localparam [31:0] MUL1 = 32'h7feb352d;
localparam [31:0] MUL2 = 32'h846ca68b;

reg [31:0]          s1_data_reg, s1_data_next;
reg [31:0]          s2_data_reg, s2_data_next;
reg [31:0]          s3_data_reg, s3_data_next;

reg [TAG_WIDTH-1:0] s1_tag_reg;
reg [TAG_WIDTH-1:0] s2_tag_reg;
reg [TAG_WIDTH-1:0] s3_tag_reg;

reg                 s1_valid_reg;
reg                 s2_valid_reg;
reg                 s3_valid_reg;

assign out_data = s3_data_reg;
assign out_tag = s3_tag_reg;
assign out_valid = s3_valid_reg;

always @* begin
    // products are taken mod 2**32: the 32-bit assignment context drops the high half
    s1_data_next = (in_data ^ (in_data >> 16)) * MUL1;
    s2_data_next = (s1_data_reg ^ (s1_data_reg >> 15)) * MUL2;
    s3_data_next = s2_data_reg ^ (s2_data_reg >> 16);
end

always @(posedge clk) begin
    s1_data_reg <= s1_data_next;
    s2_data_reg <= s2_data_next;
    s3_data_reg <= s3_data_next;

    s1_tag_reg <= in_tag;
    s2_tag_reg <= s1_tag_reg;
    s3_tag_reg <= s2_tag_reg;

    s1_valid_reg <= in_valid;
    s2_valid_reg <= s1_valid_reg;
    s3_valid_reg <= s2_valid_reg;

    if (rst) begin
        s1_valid_reg <= 1'b0;
        s2_valid_reg <= 1'b0;
        s3_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
