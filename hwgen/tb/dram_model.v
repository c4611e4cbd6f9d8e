/*

dram_model: the testbench's external memory, a word-addressed port with lines of DW
words, latency and backpressure (simulation only)

Contract: WORDS 16-bit words. A request is taken at a rising edge where req_valid and
req_ready are both high: a write stores word k of req_wdata at word k of the aligned line
that holds req_addr, for every k with req_wstrb[k]; a read returns the aligned
line mem[req_addr - req_addr mod DW + k], k = 0..DW-1, word k at rsp_data[k*16 +: 16],
on rsp_valid exactly LATENCY cycles later, in request order (a read after a write to the
same address sees the write). Backpressure is deterministic so the cost
model can count it: after every STALL_EVERY-th taken request req_ready is low for one
cycle (STALL_EVERY = 0: never). An address >= WORDS stops the simulation with an error.

hwgen.compiler.dram_map.pack_image writes the memory image (+dram=FILE); the bench dumps
it back after the run (+dump=FILE).

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module dram_model #
(
    // Address width: WORDS = 2**AW words
    parameter AW = 20,
    // Cycles from a taken read to its data (>= 1)
    parameter LATENCY = 8,
    // One stall cycle after every STALL_EVERY taken requests (0: no stalls)
    parameter STALL_EVERY = 16,
    // Words per line, a power of two (1: one word per read)
    parameter DW = 1
)
(
    input  wire         clk,
    input  wire         rst,

    input  wire         req_valid,
    output wire         req_ready,
    input  wire         req_we,
    input  wire [31:0]  req_addr,
    input  wire [DW*16-1:0] req_wdata,
    input  wire [DW-1:0]    req_wstrb,
    output wire         rsp_valid,
    output wire [DW*16-1:0] rsp_data
);

localparam WORDS = 1 << AW;
localparam LDW = DW > 1 ? $clog2(DW) : 0;

initial begin
    if (LATENCY < 1) begin
        $error("Error: LATENCY must be at least 1, got %0d (instance %m)", LATENCY);
        $finish;
    end
end

reg [15:0] mem [0:WORDS-1];
reg [31:0] taken_reg;
reg        stall_reg;
reg [LATENCY-1:0] v_reg;
reg [DW*16-1:0] d_reg [0:LATENCY-1];
reg [DW*16-1:0] line;
integer k;

wire take = req_valid && req_ready;

assign req_ready = !stall_reg;
assign rsp_valid = v_reg[LATENCY-1];
assign rsp_data = d_reg[LATENCY-1];

integer i;
always @(posedge clk) begin
    stall_reg <= 1'b0;
    if (take) begin
        if (req_addr >= WORDS) begin
            $display("dram_model: error: address %0d is outside the %0d-word memory", req_addr, WORDS);
            $finish;
        end
        if (req_we) begin
            for (k = 0; k < DW; k = k + 1) begin
                if (req_wstrb[k]) begin
                    mem[((req_addr[AW-1:0] >> LDW) << LDW) + k] <= req_wdata[k*16 +: 16];
                end
            end
        end
        taken_reg <= taken_reg + 1;
        if (STALL_EVERY != 0 && (taken_reg + 1) % STALL_EVERY == 0) begin
            stall_reg <= 1'b1;
        end
    end
    v_reg[0] <= take && !req_we;
    for (k = 0; k < DW; k = k + 1) begin
        line[k*16 +: 16] = mem[((req_addr[AW-1:0] >> LDW) << LDW) + k];
    end
    d_reg[0] <= line;
    for (i = 1; i < LATENCY; i = i + 1) begin
        v_reg[i] <= v_reg[i-1];
        d_reg[i] <= d_reg[i-1];
    end
    if (rst) begin
        taken_reg <= 32'd0;
        stall_reg <= 1'b0;
        v_reg <= {LATENCY{1'b0}};
    end
end

endmodule

`resetall
