/*

accel_banks: BANKS word banks, each with one synchronous read port and one write port

Contract: bank[b][wr_addr[b]] <= wr_data[b] at a rising edge with wr_en[b] high; read
port b returns bank[b][rd_addr[b]] one cycle after the edge that sampled rd_addr[b] (a
block RAM read register). A read and a write of the same word at one edge return the old
word. Several banks may be written at one edge (a DRAM line spread over the banks).

Every bank is a simple dual-port memory of DEPTH words, so synthesis maps each to its own
block RAM with no copies: the accelerator's pixel, channel and filter lanes read BANKS
different words per cycle by keeping the words each lane needs in a bank of its own (the
layouts are in accel_core's header and docs/accelerator.md).

Timing: latency 1 on reads, writes take effect at the edge. No reset: contents are
undefined until written.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_banks #
(
    // Width of a word (1..64)
    parameter WORD_W = 16,
    // Number of banks, one read port each (>= 1)
    parameter BANKS = 4,
    // Words per bank, a power of two >= 2 (the linear layout splits an address into
    // bank and row by its bits)
    parameter DEPTH = 256,
    // Address width within a bank, leave at its default
    parameter AW = DEPTH > 1 ? $clog2(DEPTH) : 1
)
(
    input  wire                     clk,

    /*
     * Write ports, bank b at [b], [b*AW +: AW] and [b*WORD_W +: WORD_W]
     */
    input  wire [BANKS-1:0]         wr_en,
    input  wire [BANKS*AW-1:0]      wr_addr,
    input  wire [BANKS*WORD_W-1:0]  wr_data,

    /*
     * Read ports, bank b at [b*AW +: AW] and [b*WORD_W +: WORD_W]
     */
    input  wire [BANKS*AW-1:0]      rd_addr,
    output wire [BANKS*WORD_W-1:0]  rd_data
);

// check configuration
initial begin
    if (WORD_W < 1 || WORD_W > 64) begin
        $error("Error: WORD_W must be in 1..64, got %0d (instance %m)", WORD_W);
        $finish;
    end
    if (BANKS < 1) begin
        $error("Error: BANKS must be at least 1, got %0d (instance %m)", BANKS);
        $finish;
    end
    if (DEPTH < 2 || (DEPTH & (DEPTH - 1)) != 0) begin
        $error("Error: DEPTH must be a power of two >= 2, got %0d (instance %m)", DEPTH);
        $finish;
    end
end

genvar b;
generate
for (b = 0; b < BANKS; b = b + 1) begin : bank
    reg [WORD_W-1:0] mem [0:DEPTH-1];
    reg [WORD_W-1:0] rd_data_reg;

    assign rd_data[b*WORD_W +: WORD_W] = rd_data_reg;

    always @(posedge clk) begin
        if (wr_en[b]) begin
            mem[wr_addr[b*AW +: AW]] <= wr_data[b*WORD_W +: WORD_W];
        end
        rd_data_reg <= mem[rd_addr[b*AW +: AW]];
    end
end
endgenerate

endmodule

`resetall
