/*

accel_buf: an on-chip word buffer with PORTS synchronous read ports and one write port

Contract: mem[wr_addr] <= wr_data at a rising edge with wr_en high; every read port p
returns mem[rd_addr[p]] one cycle after the edge that sampled rd_addr[p] (a block RAM
read register). A read and a write of the same address at one edge return the old word.
Addresses >= DEPTH read an undefined word: the accelerator masks every such lane (zero
padding, ragged tiles) before it reaches a multiplier.

The PORTS read ports are what the MAC array's POX x POY pixel lanes need (each lane reads
its own activation of the same tap). Synthesis replicates the memory once per read port
(yosys memory_libmap); docs/accelerator.md lists the cost and the banked alternative.

Timing: latency 1 on reads, writes take effect at the edge. No reset: contents are
undefined until written.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_buf #
(
    // Width of a word (1..64)
    parameter WORD_W = 16,
    // Words in the buffer (>= 2)
    parameter DEPTH = 1024,
    // Number of read ports (>= 1)
    parameter PORTS = 1,
    // Address width, leave at its default
    parameter AW = DEPTH > 1 ? $clog2(DEPTH) : 1
)
(
    input  wire                     clk,

    /*
     * Write port
     */
    input  wire                     wr_en,
    input  wire [AW-1:0]            wr_addr,
    input  wire [WORD_W-1:0]        wr_data,

    /*
     * Read ports, port p at [p*AW +: AW] and [p*WORD_W +: WORD_W]
     */
    input  wire [PORTS*AW-1:0]      rd_addr,
    output wire [PORTS*WORD_W-1:0]  rd_data
);

// check configuration
initial begin
    if (WORD_W < 1 || WORD_W > 64) begin
        $error("Error: WORD_W must be in 1..64, got %0d (instance %m)", WORD_W);
        $finish;
    end
    if (DEPTH < 2) begin
        $error("Error: DEPTH must be at least 2, got %0d (instance %m)", DEPTH);
        $finish;
    end
    if (PORTS < 1) begin
        $error("Error: PORTS must be at least 1, got %0d (instance %m)", PORTS);
        $finish;
    end
end

reg [WORD_W-1:0] mem [0:DEPTH-1];

always @(posedge clk) begin
    if (wr_en) begin
        mem[wr_addr] <= wr_data;
    end
end

genvar p;
generate
for (p = 0; p < PORTS; p = p + 1) begin : port
    reg [WORD_W-1:0] rd_data_reg;

    assign rd_data[p*WORD_W +: WORD_W] = rd_data_reg;

    always @(posedge clk) begin
        rd_data_reg <= mem[rd_addr[p*AW +: AW]];
    end
end
endgenerate

endmodule

`resetall
